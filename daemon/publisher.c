/* daemon/publisher.c — the caption socket on a GLib main context: listen,
 * accept, fan lines out into bounded per-client queues, read commands. */
#include "daemon/publisher.h"

#include <errno.h>
#include <stdarg.h>
#include <glib-unix.h>
#include <grp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define INBOX_MAX_LINES 1024
#define READS_PER_DISPATCH 16
#define ACCEPT_RETRY_MS 100

struct inbox_item {
	char *stream; /* for WATCH filtering */
	GBytes *line;
};

struct client {
	struct publisher *pub;
	int fd;
	unsigned id;
	GSource *source;
	gpointer fd_tag;
	bool want_out;
	GQueue lines;             /* GBytes *, oldest first */
	size_t queued_bytes;
	size_t head_offset;       /* bytes of the head line already sent */
	uint64_t pending_dropped; /* lines lost since the last DROPPED notice */
	GBytes *notice;           /* a DROPPED notice being sent */
	size_t notice_offset;
	uint64_t dropped_since_progress;
	GHashTable *watch;        /* stream names; NULL: every stream */
	char *in;                 /* PROTOCOL_MAX_CLIENT_LINE_BYTES + 1 */
	size_t in_len;
	bool discarding;          /* inside an over-long line */
};

struct client_source {
	GSource base;
	struct client *client;
};

struct inbox_source {
	GSource base;
	struct publisher *pub;
};

struct publisher {
	GMainContext *context;
	char *path;
	dev_t dev;
	ino_t ino;
	int listen_fd;
	GSource *listen_source;
	GSource *retry_source;
	bool accept_failing;
	char *release, *model;
	size_t queue_max_lines, queue_max_bytes, disconnect_after, max_clients;
	GList *clients;
	unsigned next_id;
	int64_t start_us;
	publisher_stats_fn stats_fn;
	void *stats_user;
	struct publisher_stats stats;

	GMutex inbox_lock;       /* guards inbox, inbox_lost and stats.inbox_dropped */
	GQueue inbox;            /* struct inbox_item * */
	GHashTable *inbox_lost;  /* stream name → lines dropped from the inbox */
	GSource *inbox_source;
};

static void inbox_item_free(struct inbox_item *item)
{
	g_free(item->stream);
	g_bytes_unref(item->line);
	g_free(item);
}

/* ---- clients: closing, queueing, writing ---------------------------------- */

static void client_close(struct client *c, const char *reason, bool forced)
{
	struct publisher *pub = c->pub;
	if (forced) {
		g_message("caption socket: client %u disconnected: %s", c->id, reason);
		pub->stats.clients_disconnected++;
	} else {
		g_debug("caption socket: client %u closed: %s", c->id, reason);
	}
	pub->clients = g_list_remove(pub->clients, c);
	g_source_destroy(c->source);
	g_source_unref(c->source);
	close(c->fd);
	g_queue_clear_full(&c->lines, (GDestroyNotify)g_bytes_unref);
	if (c->notice)
		g_bytes_unref(c->notice);
	if (c->watch)
		g_hash_table_destroy(c->watch);
	g_free(c->in);
	g_free(c);
}

static void client_want_out(struct client *c, bool want)
{
	if (c->want_out == want)
		return;
	c->want_out = want;
	g_source_modify_unix_fd(c->source, c->fd_tag, G_IO_IN | G_IO_HUP | G_IO_ERR | (want ? G_IO_OUT : 0));
}

/* Sends bytes [*offset, size) of data. Returns 1 when all is sent, 0 when
 * the kernel is full, negative errno on a broken connection. */
static int send_some(struct client *c, GBytes *data, size_t *offset)
{
	size_t size;
	const char *p = g_bytes_get_data(data, &size);
	while (*offset < size) {
		ssize_t n = send(c->fd, p + *offset, size - *offset, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0)
			return -errno;
		*offset += (size_t)n;
		c->dropped_since_progress = 0;
	}
	return 1;
}

/* Writes what the kernel takes. Returns false when the client was closed. */
static bool client_flush(struct client *c)
{
	for (;;) {
		int rc;
		if (c->notice) {
			rc = send_some(c, c->notice, &c->notice_offset);
			if (rc == 1) {
				g_bytes_unref(c->notice);
				c->notice = NULL;
				continue;
			}
		} else if (c->head_offset == 0 && c->pending_dropped) {
			GString *s = g_string_new(NULL);
			protocol_dropped_line(s, c->pending_dropped);
			c->notice = g_string_free_to_bytes(s);
			c->notice_offset = 0;
			c->pending_dropped = 0;
			continue;
		} else if (!g_queue_is_empty(&c->lines)) {
			GBytes *head = g_queue_peek_head(&c->lines);
			rc = send_some(c, head, &c->head_offset);
			if (rc == 1) {
				c->queued_bytes -= g_bytes_get_size(head);
				g_bytes_unref(g_queue_pop_head(&c->lines));
				c->head_offset = 0;
				continue;
			}
		} else {
			client_want_out(c, false);
			return true;
		}
		if (rc < 0) {
			client_close(c, g_strerror(-rc), rc != -EPIPE && rc != -ECONNRESET);
			return false;
		}
		client_want_out(c, true);
		return true;
	}
}

/* The count of a DROPPED notice line, 0 for any other line. */
static uint64_t notice_lines(GBytes *line)
{
	static const char prefix[] = "{\"class\":\"DROPPED\",\"count\":";
	size_t size;
	const char *p = g_bytes_get_data(line, &size);
	if (size <= sizeof prefix - 1 || memcmp(p, prefix, sizeof prefix - 1) != 0)
		return 0;
	return g_ascii_strtoull(p + sizeof prefix - 1, NULL, 10);
}

/* Queues a line (a new reference) and sends what fits. Returns false when
 * the client was closed. */
static bool client_push(struct client *c, GBytes *line)
{
	struct publisher *pub = c->pub;
	g_queue_push_tail(&c->lines, g_bytes_ref(line));
	c->queued_bytes += g_bytes_get_size(line);

	/* Drop the oldest line not yet started, never the one just added. */
	while (c->lines.length > pub->queue_max_lines || c->queued_bytes > pub->queue_max_bytes) {
		guint victim = c->head_offset ? 1 : 0;
		if (victim + 1 >= c->lines.length)
			break;
		GBytes *old = g_queue_pop_nth(&c->lines, victim);
		c->queued_bytes -= g_bytes_get_size(old);
		uint64_t notice_count = notice_lines(old);
		g_bytes_unref(old);
		if (notice_count) {
			/* A queued DROPPED notice: fold its count into the next one. */
			c->pending_dropped += notice_count;
			continue;
		}
		c->pending_dropped++;
		c->dropped_since_progress++;
		pub->stats.lines_dropped++;
	}
	if (c->lines.length > pub->stats.queue_lines_peak)
		pub->stats.queue_lines_peak = c->lines.length;
	if (c->queued_bytes > pub->stats.queue_bytes_peak)
		pub->stats.queue_bytes_peak = c->queued_bytes;
	if (c->dropped_since_progress > pub->disconnect_after) {
		char reason[128];
		g_snprintf(reason, sizeof reason, "stopped reading (%" G_GUINT64_FORMAT " lines dropped since it last read)",
			   c->dropped_since_progress);
		client_close(c, reason, true);
		return false;
	}
	/* With OUT watched the kernel is full: the watch will flush. */
	return c->want_out ? true : client_flush(c);
}

static bool client_push_string(struct client *c, GString *s)
{
	GBytes *line = g_string_free_to_bytes(s);
	bool alive = client_push(c, line);
	g_bytes_unref(line);
	return alive;
}

static bool client_error(struct client *c, const char *message)
{
	GString *s = g_string_new(NULL);
	protocol_error_line(s, message);
	return client_push_string(c, s);
}

/* n lines for this client were lost before reaching its queue: they are
 * newer than everything queued, so the notice goes at the tail of the
 * queue, or becomes the pending count when nothing unsent is queued. */
static bool client_lost(struct client *c, uint64_t n)
{
	guint unstarted = c->lines.length - (c->head_offset ? 1 : 0);
	if (unstarted == 0) {
		c->pending_dropped += n;
		return c->want_out ? true : client_flush(c);
	}
	GString *s = g_string_new(NULL);
	protocol_dropped_line(s, n);
	return client_push_string(c, s);
}

/* ---- client commands ---------------------------------------------------------- */

static GString *stats_line(struct publisher *pub)
{
	GString *s = g_string_new("{\"class\":\"STATS\"");
	g_mutex_lock(&pub->inbox_lock);
	uint64_t inbox_dropped = pub->stats.inbox_dropped;
	g_mutex_unlock(&pub->inbox_lock);
	g_string_append_printf(s,
			       ",\"uptime_s\":%" G_GINT64_FORMAT ",\"clients\":%u,\"lines_published\":%" G_GUINT64_FORMAT
			       ",\"lines_dropped\":%" G_GUINT64_FORMAT ",\"inbox_dropped\":%" G_GUINT64_FORMAT
			       ",\"disconnects\":%" G_GUINT64_FORMAT,
			       (g_get_monotonic_time() - pub->start_us) / G_USEC_PER_SEC, g_list_length(pub->clients),
			       pub->stats.lines_published, pub->stats.lines_dropped, inbox_dropped,
			       pub->stats.clients_disconnected);
	if (pub->stats_fn)
		pub->stats_fn(pub->stats_user, s);
	g_string_append(s, "}\n");
	return s;
}

static bool client_command(struct client *c, const char *line, size_t len)
{
	struct protocol_command cmd;
	char why[160];
	bool alive;

	if (len && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return true;
	if (protocol_command_parse(line, len, &cmd, why, sizeof why) < 0) {
		protocol_command_clear(&cmd);
		return client_error(c, why);
	}
	GString *reply = g_string_new(NULL);
	if (cmd.kind == PROTOCOL_COMMAND_WATCH) {
		if (c->watch)
			g_hash_table_destroy(c->watch);
		c->watch = NULL;
		if (cmd.streams) {
			c->watch = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
			for (size_t i = 0; cmd.streams[i]; i++)
				g_hash_table_add(c->watch, g_strdup(cmd.streams[i]));
		}
		protocol_watch_line(reply, cmd.streams);
	} else {
		g_string_free(reply, TRUE);
		reply = stats_line(c->pub);
	}
	alive = client_push_string(c, reply);
	protocol_command_clear(&cmd);
	return alive;
}

/* Splits what was read into lines. Returns false when the client was closed. */
static bool client_lines(struct client *c)
{
	size_t start = 0;
	for (size_t i = 0; i < c->in_len; i++) {
		if (c->in[i] != '\n')
			continue;
		bool alive = true;
		if (c->discarding)
			c->discarding = false;
		else
			alive = client_command(c, c->in + start, i - start);
		if (!alive)
			return false;
		start = i + 1;
	}
	memmove(c->in, c->in + start, c->in_len - start);
	c->in_len -= start;
	if (c->in_len > PROTOCOL_MAX_CLIENT_LINE_BYTES) {
		/* No newline within the limit: refuse the line, skip to its end. */
		c->in_len = 0;
		if (!c->discarding) {
			c->discarding = true;
			return client_error(c, "line longer than 4096 bytes; discarded");
		}
	}
	return true;
}

static gboolean client_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
	struct client *c = ((struct client_source *)source)->client;
	GIOCondition cond = g_source_query_unix_fd(source, c->fd_tag);

	if (cond & G_IO_OUT) {
		if (!client_flush(c))
			return G_SOURCE_REMOVE;
	}
	if (cond & (G_IO_IN | G_IO_HUP | G_IO_ERR)) {
		for (int i = 0; i < READS_PER_DISPATCH; i++) {
			size_t room = PROTOCOL_MAX_CLIENT_LINE_BYTES + 1 - c->in_len;
			ssize_t n = recv(c->fd, c->in + c->in_len, room, MSG_DONTWAIT);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			if (n <= 0) {
				client_close(c, n == 0 ? "end of file" : g_strerror(errno), n < 0 && errno != ECONNRESET);
				return G_SOURCE_REMOVE;
			}
			c->in_len += (size_t)n;
			if (!client_lines(c))
				return G_SOURCE_REMOVE;
		}
	}
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs client_source_funcs = { .dispatch = client_dispatch };

static void client_add(struct publisher *pub, int fd)
{
	struct client *c = g_new0(struct client, 1);
	c->pub = pub;
	c->fd = fd;
	c->id = ++pub->next_id;
	c->in = g_malloc(PROTOCOL_MAX_CLIENT_LINE_BYTES + 1);
	g_queue_init(&c->lines);
	c->source = g_source_new(&client_source_funcs, sizeof(struct client_source));
	((struct client_source *)c->source)->client = c;
	g_source_set_name(c->source, "captiond client");
	c->fd_tag = g_source_add_unix_fd(c->source, fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
	g_source_attach(c->source, pub->context);
	pub->clients = g_list_prepend(pub->clients, c);

	GString *s = g_string_new(NULL);
	protocol_version_line(s, pub->release, pub->model);
	client_push_string(c, s);
}

/* ---- listening ---------------------------------------------------------------- */

static gboolean listen_ready(gint fd, GIOCondition cond, gpointer user_data);

static gboolean accept_resume(gpointer user_data)
{
	struct publisher *pub = user_data;
	g_source_unref(pub->retry_source);
	pub->retry_source = NULL;
	pub->listen_source = g_unix_fd_source_new(pub->listen_fd, G_IO_IN);
	g_source_set_callback(pub->listen_source, G_SOURCE_FUNC(listen_ready), pub, NULL);
	g_source_attach(pub->listen_source, pub->context);
	return G_SOURCE_REMOVE;
}

static gboolean listen_ready(gint fd, GIOCondition cond, gpointer user_data)
{
	struct publisher *pub = user_data;
	for (;;) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return G_SOURCE_CONTINUE;
			/* Out of fds or memory: the socket stays readable, so stop
			 * watching it for a while instead of spinning. */
			if (!pub->accept_failing)
				g_warning("caption socket: accept: %s; pausing %d ms", g_strerror(errno), ACCEPT_RETRY_MS);
			pub->accept_failing = true; /* one warning per episode, not ten a second */
			g_source_unref(pub->listen_source);
			pub->listen_source = NULL;
			pub->retry_source = g_timeout_source_new(ACCEPT_RETRY_MS);
			g_source_set_callback(pub->retry_source, accept_resume, pub, NULL);
			g_source_attach(pub->retry_source, pub->context);
			return G_SOURCE_REMOVE;
		}
		pub->accept_failing = false;
		if (g_list_length(pub->clients) >= pub->max_clients) {
			GString *s = g_string_new(NULL);
			protocol_error_line(s, "too many clients");
			ssize_t ignored = send(cfd, s->str, s->len, MSG_NOSIGNAL | MSG_DONTWAIT);
			(void)ignored;
			g_string_free(s, TRUE);
			close(cfd);
			g_message("caption socket: refused a client: %zu clients already", pub->max_clients);
			pub->stats.clients_disconnected++;
			continue;
		}
		client_add(pub, cfd);
	}
}

static int fail(char *why, size_t why_size, int rc, const char *fmt, ...) G_GNUC_PRINTF(4, 5);

static int fail(char *why, size_t why_size, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g_vsnprintf(why, why_size, fmt, ap);
	va_end(ap);
	return rc;
}

/* Removes a socket file nobody accepts on; refuses anything else. */
static int remove_stale(const char *path, const struct sockaddr_un *addr, char *why, size_t why_size)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return fail(why, why_size, -errno, "%s: %s", path, g_strerror(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		return fail(why, why_size, -EEXIST, "%s: exists and is not a socket; not removing it", path);
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe < 0)
		return fail(why, why_size, -errno, "socket: %s", g_strerror(errno));
	int rc = connect(probe, (const struct sockaddr *)addr, sizeof *addr);
	int e = errno;
	close(probe);
	if (rc == 0)
		return fail(why, why_size, -EADDRINUSE, "%s: another process is listening on it", path);
	if (e != ECONNREFUSED)
		return fail(why, why_size, -e, "%s: %s", path, g_strerror(e));
	if (unlink(path) < 0 && errno != ENOENT)
		return fail(why, why_size, -errno, "%s: cannot remove the stale socket: %s", path, g_strerror(errno));
	return 0;
}

static int group_id(const char *name, gid_t *gid, char *why, size_t why_size)
{
	struct group grp, *found = NULL;
	char buf[4096];
	int rc = getgrnam_r(name, &grp, buf, sizeof buf, &found);
	if (rc)
		return fail(why, why_size, -rc, "group %s: %s", name, g_strerror(rc));
	if (!found)
		return fail(why, why_size, -ENOENT, "group %s: no such group", name);
	*gid = found->gr_gid;
	return 0;
}

static int listen_on(struct publisher *pub, const struct publisher_options *opt, char *why, size_t why_size)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	gid_t gid = 0;
	int rc;

	if (strlen(opt->socket_path) >= sizeof addr.sun_path)
		return fail(why, why_size, -ENAMETOOLONG, "%s: longer than %zu bytes", opt->socket_path,
			    sizeof addr.sun_path - 1);
	memcpy(addr.sun_path, opt->socket_path, strlen(opt->socket_path) + 1);
	if (opt->socket_group && opt->socket_group[0]) {
		rc = group_id(opt->socket_group, &gid, why, why_size);
		if (rc)
			return rc;
	}
	rc = remove_stale(opt->socket_path, &addr, why, why_size);
	if (rc)
		return rc;

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(why, why_size, -errno, "socket: %s", g_strerror(errno));
	if (bind(fd, (const struct sockaddr *)&addr, sizeof addr) < 0) {
		rc = fail(why, why_size, -errno, "%s: bind: %s", opt->socket_path, g_strerror(errno));
		goto err_close;
	}
	/* Mode and group before listen(): until then nobody can connect. */
	if (chmod(opt->socket_path, opt->socket_mode & 0777) < 0) {
		rc = fail(why, why_size, -errno, "%s: chmod: %s", opt->socket_path, g_strerror(errno));
		goto err_unlink;
	}
	if (opt->socket_group && opt->socket_group[0] && chown(opt->socket_path, (uid_t)-1, gid) < 0) {
		rc = fail(why, why_size, -errno, "%s: chown: %s", opt->socket_path, g_strerror(errno));
		goto err_unlink;
	}
	if (lstat(opt->socket_path, &st) < 0 || listen(fd, 64) < 0) {
		rc = fail(why, why_size, -errno, "%s: listen: %s", opt->socket_path, g_strerror(errno));
		goto err_unlink;
	}
	pub->dev = st.st_dev;
	pub->ino = st.st_ino;
	pub->listen_fd = fd;
	return 0;

err_unlink:
	unlink(opt->socket_path);
err_close:
	close(fd);
	return rc;
}

/* ---- the inbox: lines from other threads ---------------------------------------- */

static gboolean inbox_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
	struct publisher *pub = ((struct inbox_source *)source)->pub;
	GQueue items = G_QUEUE_INIT;

	/* Clear readiness before taking the items: a push after this point sets
	 * it again, so nothing waits for a later wake-up. */
	g_source_set_ready_time(source, -1);
	g_mutex_lock(&pub->inbox_lock);
	items = pub->inbox;
	g_queue_init(&pub->inbox);
	GHashTable *lost = NULL;
	if (g_hash_table_size(pub->inbox_lost)) {
		lost = pub->inbox_lost;
		pub->inbox_lost = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	}
	g_mutex_unlock(&pub->inbox_lock);

	/* Lines lost in the inbox are older than the ones taken now. */
	for (GList *l = pub->clients, *next; lost && l; l = next) {
		next = l->next;
		struct client *c = l->data;
		uint64_t n = 0;
		GHashTableIter iter;
		gpointer key, value;
		g_hash_table_iter_init(&iter, lost);
		while (g_hash_table_iter_next(&iter, &key, &value))
			if (!c->watch || g_hash_table_contains(c->watch, key))
				n += GPOINTER_TO_SIZE(value);
		if (n)
			client_lost(c, n);
	}
	if (lost)
		g_hash_table_destroy(lost);

	struct inbox_item *item;
	while ((item = g_queue_pop_head(&items))) {
		pub->stats.lines_published++;
		for (GList *l = pub->clients, *next; l; l = next) {
			next = l->next;
			struct client *c = l->data;
			if (!c->watch || g_hash_table_contains(c->watch, item->stream))
				client_push(c, item->line);
		}
		inbox_item_free(item);
	}
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs inbox_source_funcs = { .dispatch = inbox_dispatch };

static void inbox_push(struct publisher *pub, const char *stream, GString *line)
{
	struct inbox_item *item = g_new(struct inbox_item, 1);
	item->stream = g_strdup(stream);
	item->line = g_string_free_to_bytes(line);
	g_mutex_lock(&pub->inbox_lock);
	g_queue_push_tail(&pub->inbox, item);
	if (pub->inbox.length > INBOX_MAX_LINES) {
		struct inbox_item *old = g_queue_pop_head(&pub->inbox);
		gpointer count = g_hash_table_lookup(pub->inbox_lost, old->stream);
		g_hash_table_replace(pub->inbox_lost, g_strdup(old->stream), GSIZE_TO_POINTER(GPOINTER_TO_SIZE(count) + 1));
		inbox_item_free(old);
		pub->stats.inbox_dropped++;
	}
	g_mutex_unlock(&pub->inbox_lock);
	g_source_set_ready_time(pub->inbox_source, 0);
}

void publisher_publish_caption(struct publisher *pub, const struct caption_event *ev)
{
	g_return_if_fail(pub && ev && ev->stream);
	int64_t now_real = g_get_real_time(), now_mono = g_get_monotonic_time();
	GString *s = g_string_new(NULL);
	protocol_caption_line(s, ev, now_real, (double)(now_mono - ev->capture_monotonic_us) / 1000.0);
	inbox_push(pub, ev->stream, s);
}

void publisher_publish_stream(struct publisher *pub, const char *stream, const char *state, const char *message)
{
	g_return_if_fail(pub && stream && state);
	GString *s = g_string_new(NULL);
	protocol_stream_line(s, stream, state, message);
	inbox_push(pub, stream, s);
}

/* ---- create / destroy --------------------------------------------------------- */

int publisher_create(const struct publisher_options *opt, GMainContext *context, struct publisher **out,
		     char *why, size_t why_size)
{
	struct publisher *pub = g_new0(struct publisher, 1);
	int rc;

	*out = NULL;
	pub->listen_fd = -1;
	pub->context = g_main_context_ref(context ? context : g_main_context_default());
	pub->path = g_strdup(opt->socket_path);
	pub->release = g_strdup(opt->release ? opt->release : "");
	pub->model = g_strdup(opt->model);
	pub->queue_max_lines = opt->queue_max_lines ? opt->queue_max_lines : PUBLISHER_DEFAULT_QUEUE_MAX_LINES;
	pub->queue_max_bytes = opt->queue_max_bytes ? opt->queue_max_bytes : PUBLISHER_DEFAULT_QUEUE_MAX_BYTES;
	pub->disconnect_after = opt->disconnect_after_dropped_lines ? opt->disconnect_after_dropped_lines
								    : PUBLISHER_DEFAULT_DISCONNECT_AFTER_DROPPED_LINES;
	pub->max_clients = opt->max_clients ? opt->max_clients : PUBLISHER_DEFAULT_MAX_CLIENTS;
	pub->start_us = g_get_monotonic_time();
	g_mutex_init(&pub->inbox_lock);
	g_queue_init(&pub->inbox);
	pub->inbox_lost = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	rc = listen_on(pub, opt, why, why_size);
	if (rc) {
		publisher_destroy(pub);
		return rc;
	}
	pub->listen_source = g_unix_fd_source_new(pub->listen_fd, G_IO_IN);
	g_source_set_callback(pub->listen_source, G_SOURCE_FUNC(listen_ready), pub, NULL);
	g_source_attach(pub->listen_source, pub->context);

	pub->inbox_source = g_source_new(&inbox_source_funcs, sizeof(struct inbox_source));
	((struct inbox_source *)pub->inbox_source)->pub = pub;
	g_source_set_name(pub->inbox_source, "captiond inbox");
	g_source_attach(pub->inbox_source, pub->context);
	*out = pub;
	return 0;
}

void publisher_destroy(struct publisher *pub)
{
	if (!pub)
		return;
	while (pub->clients)
		client_close(pub->clients->data, "publisher stopped", false);
	if (pub->inbox_source) {
		g_source_destroy(pub->inbox_source);
		g_source_unref(pub->inbox_source);
	}
	g_queue_clear_full(&pub->inbox, (GDestroyNotify)inbox_item_free);
	g_hash_table_destroy(pub->inbox_lost);
	g_mutex_clear(&pub->inbox_lock);
	if (pub->listen_source) {
		g_source_destroy(pub->listen_source);
		g_source_unref(pub->listen_source);
	}
	if (pub->retry_source) {
		g_source_destroy(pub->retry_source);
		g_source_unref(pub->retry_source);
	}
	if (pub->listen_fd >= 0) {
		struct stat st;
		/* Remove the file only if nobody replaced it meanwhile. */
		if (lstat(pub->path, &st) == 0 && st.st_dev == pub->dev && st.st_ino == pub->ino)
			unlink(pub->path);
		close(pub->listen_fd);
	}
	g_main_context_unref(pub->context);
	g_free(pub->path);
	g_free(pub->release);
	g_free(pub->model);
	g_free(pub);
}

void publisher_stats_fn_set(struct publisher *pub, publisher_stats_fn fn, void *user)
{
	pub->stats_fn = fn;
	pub->stats_user = user;
}

void publisher_stats_get(struct publisher *pub, struct publisher_stats *out)
{
	*out = pub->stats;
	out->clients = g_list_length(pub->clients);
	g_mutex_lock(&pub->inbox_lock);
	out->inbox_dropped = pub->stats.inbox_dropped;
	g_mutex_unlock(&pub->inbox_lock);
}
