/* tests/test-publisher.c — daemon/publisher over real Unix sockets in a
 * temporary directory: VERSION on connect, POLL → STATS, WATCH filtering,
 * 50 subscribers of which 10 never read (bounded queues, nobody waits), the
 * DROPPED notice matching the gap in seq, disconnect past the limit with a
 * logged reason, hostile client input, and the socket file's handling.
 *
 * The publisher runs on its own GMainContext in a loop thread, as in the
 * daemon; the test thread is a "producer" thread and the clients. Every wait
 * is bounded (5 s socket timeouts, 10 s polls). */
#include "daemon/publisher.h"
#include "tests/check.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct fixture {
	char *dir, *path;
	GMainContext *ctx;
	GMainLoop *loop;
	GThread *thread;
	struct publisher *pub;
	GMutex log_lock;
	GPtrArray *log; /* messages the publisher logged */
};

struct call {
	void (*fn)(struct fixture *f, void *data);
	struct fixture *f;
	void *data;
	GMutex lock;
	GCond cond;
	bool done;
};

static gboolean call_cb(gpointer user_data)
{
	struct call *call = user_data;
	call->fn(call->f, call->data);
	g_mutex_lock(&call->lock);
	call->done = true;
	g_cond_signal(&call->cond);
	g_mutex_unlock(&call->lock);
	return G_SOURCE_REMOVE;
}

/* Runs fn on the publisher's thread and waits for it. */
static void on_loop(struct fixture *f, void (*fn)(struct fixture *f, void *data), void *data)
{
	struct call call = { .fn = fn, .f = f, .data = data };
	g_mutex_init(&call.lock);
	g_cond_init(&call.cond);
	g_main_context_invoke(f->ctx, call_cb, &call);
	g_mutex_lock(&call.lock);
	while (!call.done)
		g_cond_wait(&call.cond, &call.lock);
	g_mutex_unlock(&call.lock);
	g_mutex_clear(&call.lock);
	g_cond_clear(&call.cond);
}

static void stats_cb(struct fixture *f, void *data)
{
	publisher_stats_get(f->pub, data);
}

static struct publisher_stats stats(struct fixture *f)
{
	struct publisher_stats st;
	on_loop(f, stats_cb, &st);
	return st;
}

static void log_handler(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer user_data)
{
	struct fixture *f = user_data;
	g_mutex_lock(&f->log_lock);
	g_ptr_array_add(f->log, g_strdup(message));
	g_mutex_unlock(&f->log_lock);
}

static bool logged(struct fixture *f, const char *needle)
{
	bool found = false;
	g_mutex_lock(&f->log_lock);
	for (guint i = 0; i < f->log->len; i++)
		found = found || strstr(g_ptr_array_index(f->log, i), needle);
	g_mutex_unlock(&f->log_lock);
	return found;
}

static void extra_stats(void *user, GString *members)
{
	g_string_append(members, ",\"test\":1");
}

static gpointer loop_thread(gpointer data)
{
	g_main_loop_run(data);
	return NULL;
}

static bool fixture_start(struct fixture *f, struct publisher_options opt)
{
	memset(f, 0, sizeof *f);
	f->dir = g_dir_make_tmp("test-publisher-XXXXXX", NULL);
	f->path = g_build_filename(f->dir, "captions.sock", NULL);
	f->ctx = g_main_context_new();
	f->loop = g_main_loop_new(f->ctx, FALSE);
	g_mutex_init(&f->log_lock);
	f->log = g_ptr_array_new_with_free_func(g_free);
	g_log_set_handler("captiond", G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_WARNING, log_handler, f);
	opt.socket_path = f->path;
	opt.socket_mode = opt.socket_mode ? opt.socket_mode : 0600;
	opt.release = "9.9.9";
	opt.model = "test-model";
	char why[256] = "";
	int rc = publisher_create(&opt, f->ctx, &f->pub, why, sizeof why);
	CHECKF(rc == 0, "%s", why);
	if (rc)
		return false;
	publisher_stats_fn_set(f->pub, extra_stats, NULL);
	f->thread = g_thread_new("publisher", loop_thread, f->loop);
	return true;
}

static void destroy_cb(struct fixture *f, void *data)
{
	publisher_destroy(f->pub);
	f->pub = NULL;
	g_main_loop_quit(f->loop);
}

static void fixture_stop(struct fixture *f)
{
	if (f->thread) {
		on_loop(f, destroy_cb, NULL);
		g_thread_join(f->thread);
	}
	publisher_destroy(f->pub);
	g_log_set_handler("captiond", G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_WARNING, g_log_default_handler, NULL);
	CHECK(access(f->path, F_OK) != 0); /* the socket file is gone */
	g_main_loop_unref(f->loop);
	g_main_context_unref(f->ctx);
	g_rmdir(f->dir);
	g_free(f->path);
	g_free(f->dir);
	g_ptr_array_free(f->log, TRUE);
	g_mutex_clear(&f->log_lock);
}

/* ---- a blocking client with a 5 s timeout ----------------------------------- */

struct client {
	int fd;
	size_t len;
	char buf[1 << 16];
};

static struct client *client_open(const char *path)
{
	struct client *c = g_new0(struct client, 1);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	g_strlcpy(addr.sun_path, path, sizeof addr.sun_path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
		fprintf(stderr, "connect %s: %s\n", path, g_strerror(errno));
		close(c->fd);
		g_free(c);
		return NULL;
	}
	return c;
}

static void client_close(struct client *c)
{
	if (!c)
		return;
	close(c->fd);
	g_free(c);
}

/* The next line without its newline (g_free it), or NULL on EOF / timeout. */
static char *client_line(struct client *c)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		if (nl) {
			char *line = g_strndup(c->buf, (gsize)(nl - c->buf));
			size_t used = (size_t)(nl - c->buf) + 1;
			memmove(c->buf, c->buf + used, c->len - used);
			c->len -= used;
			return line;
		}
		if (c->len == sizeof c->buf)
			return NULL;
		ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		c->len += (size_t)n;
	}
}

static bool client_send(struct client *c, const char *data, size_t len)
{
	while (len) {
		ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		data += n;
		len -= (size_t)n;
	}
	return true;
}

static bool client_say(struct client *c, const char *line)
{
	return client_send(c, line, strlen(line));
}

static const char *show(const char *s)
{
	return s ? s : "(nothing)";
}

static bool is_class(const char *line, const char *class_name)
{
	char prefix[64];
	g_snprintf(prefix, sizeof prefix, "{\"class\":\"%s\"", class_name);
	return line && g_str_has_prefix(line, prefix);
}

static long long member_int(const char *line, const char *name)
{
	char key[64];
	g_snprintf(key, sizeof key, "\"%s\":", name);
	const char *p = line ? strstr(line, key) : NULL;
	return p ? g_ascii_strtoll(p + strlen(key), NULL, 10) : -1;
}

static void publish(struct fixture *f, const char *stream, uint64_t seq, size_t text_bytes)
{
	char *text = g_strnfill(text_bytes, 'x');
	struct caption_event ev = { .stream = stream, .seq = seq, .capture_realtime_us = g_get_real_time(),
				    .capture_monotonic_us = g_get_monotonic_time(), .text = text, .n_tokens = 3 };
	publisher_publish_caption(f->pub, &ev);
	g_free(text);
}

static void wait_published(struct fixture *f, uint64_t n)
{
	int64_t deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	while (stats(f).lines_published < n && g_get_monotonic_time() < deadline)
		g_usleep(1000);
	CHECK(stats(f).lines_published >= n);
}

/* ---- tests -------------------------------------------------------------------- */

static void test_version_poll(void)
{
	struct fixture f;
	if (!fixture_start(&f, (struct publisher_options){ 0 }))
		return;
	struct client *c = client_open(f.path);
	CHECK(c);
	if (c) {
		char *line = client_line(c);
		CHECKF(line && strcmp(line, "{\"class\":\"VERSION\",\"proto_major\":1,\"proto_minor\":0,"
					    "\"release\":\"9.9.9\",\"model\":\"test-model\"}") == 0,
		       "%s", show(line));
		g_free(line);
		CHECK(client_say(c, "{\"class\":\"POLL\"}\n"));
		line = client_line(c);
		CHECKF(is_class(line, "STATS") && member_int(line, "clients") == 1 && strstr(line, ",\"test\":1}"), "%s",
		       line);
		g_free(line);
		/* CRLF line endings are accepted. */
		CHECK(client_say(c, "{\"class\":\"POLL\"}\r\n"));
		line = client_line(c);
		CHECK(is_class(line, "STATS"));
		g_free(line);
	}
	/* Stopping with a client connected and lines still in the inbox frees
	 * everything (ASan's leak check) and the client sees end of file. */
	for (uint64_t s = 1; s <= 100; s++)
		publish(&f, "cam", s, 100);
	fixture_stop(&f);
	if (c) {
		char *line;
		while ((line = client_line(c)))
			g_free(line);
		char byte;
		CHECK(recv(c->fd, &byte, 1, 0) == 0);
	}
	client_close(c);
}

/* Out of file descriptors: accept fails with EMFILE; the publisher pauses
 * listening instead of spinning, logs it, and accepts once fds are free. */
static void test_out_of_fds(void)
{
	struct fixture f;
	if (!fixture_start(&f, (struct publisher_options){ 0 }))
		return;
	struct rlimit old_limit, limit;
	CHECK(getrlimit(RLIMIT_NOFILE, &old_limit) == 0);
	limit = old_limit;
	limit.rlim_cur = 256;
	if (old_limit.rlim_cur < 256 || setrlimit(RLIMIT_NOFILE, &limit) < 0) {
		fprintf(stderr, "cannot set RLIMIT_NOFILE to 256: out-of-fds case skipped\n");
		fixture_stop(&f);
		return;
	}
	/* Fill every fd but one; the client's socket takes the last one. */
	GArray *fillers = g_array_new(FALSE, FALSE, sizeof(int));
	for (;;) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			break;
		g_array_append_val(fillers, fd);
	}
	CHECK(fillers->len > 2);
	close(g_array_index(fillers, int, fillers->len - 1));
	g_array_set_size(fillers, fillers->len - 1);
	struct client *c = client_open(f.path);
	CHECK(c);
	int64_t deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
	while (!logged(&f, "accept: Too many open files; pausing 100 ms") && g_get_monotonic_time() < deadline)
		g_usleep(1000);
	CHECK(logged(&f, "accept: Too many open files; pausing 100 ms"));
	for (guint i = 0; i < fillers->len; i++)
		close(g_array_index(fillers, int, i));
	g_array_free(fillers, TRUE);
	CHECK(setrlimit(RLIMIT_NOFILE, &old_limit) == 0);
	char *line = c ? client_line(c) : NULL;
	CHECKF(is_class(line, "VERSION"), "%s", show(line));
	g_free(line);
	client_close(c);
	fixture_stop(&f);
}

static void test_watch(void)
{
	struct fixture f;
	if (!fixture_start(&f, (struct publisher_options){ 0 }))
		return;
	struct client *a = client_open(f.path), *all = client_open(f.path);
	CHECK(a && all);
	if (!a || !all)
		goto out;
	g_free(client_line(a));
	g_free(client_line(all));
	CHECK(client_say(a, "{\"class\":\"WATCH\",\"streams\":[\"cam-a\"]}\n"));
	char *line = client_line(a);
	CHECKF(line && strcmp(line, "{\"class\":\"WATCH\",\"streams\":[\"cam-a\"]}") == 0, "%s", show(line));
	g_free(line);

	publish(&f, "cam-a", 1, 10);
	publish(&f, "cam-b", 1, 10);
	publisher_publish_stream(f.pub, "cam-b", "error", "no such device");
	publisher_publish_stream(f.pub, "cam-a", "playing", NULL);
	publish(&f, "cam-a", 2, 10);

	/* The filtered client sees cam-a only, in order; a POLL answered next
	 * shows nothing else was queued before it. */
	line = client_line(a);
	CHECKF(is_class(line, "CAPTION") && strstr(line, "\"stream\":\"cam-a\"") && member_int(line, "seq") == 1, "%s",
	       line);
	g_free(line);
	line = client_line(a);
	CHECKF(line && strcmp(line, "{\"class\":\"STREAM\",\"stream\":\"cam-a\",\"state\":\"playing\"}") == 0, "%s", show(line));
	g_free(line);
	line = client_line(a);
	CHECK(is_class(line, "CAPTION") && member_int(line, "seq") == 2);
	g_free(line);
	CHECK(client_say(a, "{\"class\":\"POLL\"}\n"));
	line = client_line(a);
	CHECK(is_class(line, "STATS"));
	g_free(line);

	/* The unfiltered one sees all five. */
	const char *want[] = { "cam-a", "cam-b", "cam-b", "cam-a", "cam-a" };
	for (int i = 0; i < 5; i++) {
		line = client_line(all);
		char stream[32];
		g_snprintf(stream, sizeof stream, "\"stream\":\"%s\"", want[i]);
		CHECKF(line && strstr(line, stream), "line %d: %s", i, show(line));
		if (i == 2)
			CHECK(line && strstr(line, "\"message\":\"no such device\""));
		g_free(line);
	}

	/* WATCH [] : nothing; WATCH without streams: everything again. */
	CHECK(client_say(a, "{\"class\":\"WATCH\",\"streams\":[]}\n"));
	line = client_line(a);
	CHECK(line && strcmp(line, "{\"class\":\"WATCH\",\"streams\":[]}") == 0);
	g_free(line);
	publish(&f, "cam-a", 3, 10);
	wait_published(&f, 6);
	CHECK(client_say(a, "{\"class\":\"WATCH\"}\n"));
	line = client_line(a);
	CHECK(line && strcmp(line, "{\"class\":\"WATCH\"}") == 0);
	g_free(line);
	publish(&f, "cam-b", 2, 10);
	line = client_line(a);
	CHECKF(is_class(line, "CAPTION") && strstr(line, "cam-b"), "%s", show(line));
	g_free(line);
out:
	client_close(a);
	client_close(all);
	fixture_stop(&f);
}

/* 50 subscribers, 10 of which never read: the 40 readers get every line in
 * order and no DROPPED; every queue stays within its bounds. */
static void test_many_subscribers(void)
{
	enum { N_CLIENTS = 50, N_STALLED = 10, BURSTS = 150, PER_BURST = 10, TEXT = 1000 };
	struct fixture f;
	struct publisher_options opt = { .queue_max_lines = 16, .queue_max_bytes = 12 * 1024,
					 .disconnect_after_dropped_lines = 1000000 };
	if (!fixture_start(&f, opt))
		return;
	struct client *clients[N_CLIENTS] = { 0 };
	int connected = 0;
	for (int i = 0; i < N_CLIENTS; i++) {
		clients[i] = client_open(f.path);
		connected += clients[i] != NULL;
	}
	CHECK(connected == N_CLIENTS);
	if (connected != N_CLIENTS)
		goto out;
	int bad_order = 0, bad_class = 0;
	for (int i = N_STALLED; i < N_CLIENTS; i++) {
		char *line = client_line(clients[i]);
		bad_class += !is_class(line, "VERSION");
		g_free(line);
	}
	uint64_t seq = 0;
	for (int b = 0; b < BURSTS; b++) {
		for (int k = 0; k < PER_BURST; k++)
			publish(&f, "cam", ++seq, TEXT);
		for (int i = N_STALLED; i < N_CLIENTS; i++) {
			for (int k = PER_BURST - 1; k >= 0; k--) {
				char *line = client_line(clients[i]);
				bad_class += !is_class(line, "CAPTION");
				bad_order += member_int(line, "seq") != (long long)(seq - (uint64_t)k);
				g_free(line);
			}
		}
	}
	CHECKF(bad_class == 0 && bad_order == 0, "%d lines of the wrong class, %d out of order", bad_class, bad_order);
	struct publisher_stats st = stats(&f);
	CHECK(st.clients == N_CLIENTS);
	CHECK(st.lines_published == seq);
	/* The stalled clients lost lines; their queues never grew past the bounds
	 * (the lines are far smaller than the byte bound). */
	CHECK(st.lines_dropped > 0);
	CHECKF(st.queue_lines_peak <= opt.queue_max_lines, "%zu", st.queue_lines_peak);
	CHECKF(st.queue_bytes_peak <= opt.queue_max_bytes, "%zu", st.queue_bytes_peak);
out:
	for (int i = 0; i < N_CLIENTS; i++)
		client_close(clients[i]);
	fixture_stop(&f);
}

/* A reader that pauses loses the oldest lines and is told how many: every
 * DROPPED count equals the gap in seq that follows it. */
static void test_dropped_notice(void)
{
	enum { N = 2000, TEXT = 1000 };
	struct fixture f;
	struct publisher_options opt = { .queue_max_lines = 8, .disconnect_after_dropped_lines = 1000000 };
	if (!fixture_start(&f, opt))
		return;
	struct client *c = client_open(f.path);
	CHECK(c);
	if (!c)
		goto out;
	char *line = client_line(c);
	CHECK(is_class(line, "VERSION"));
	g_free(line);
	/* In steps the inbox (1024 lines) always holds, so that only the
	 * client's queue drops. */
	for (uint64_t s = 1; s <= N; s++) {
		publish(&f, "cam", s, TEXT);
		if (s % 500 == 0)
			wait_published(&f, s);
	}

	long long last = 0, captions = 0, dropped = 0, notices = 0, pending = 0;
	int bad = 0;
	while (last < N && (line = client_line(c))) {
		if (is_class(line, "DROPPED")) {
			pending = member_int(line, "count");
			bad += pending <= 0;
			dropped += pending;
			notices++;
		} else if (is_class(line, "CAPTION")) {
			long long s = member_int(line, "seq");
			bad += s != last + 1 + pending;
			pending = 0;
			last = s;
			captions++;
		} else {
			bad++;
		}
		g_free(line);
	}
	CHECKF(bad == 0 && last == N, "bad %d last %lld", bad, last);
	CHECKF(captions + dropped == N, "%lld captions + %lld dropped", captions, dropped);
	CHECK(notices > 0);
	CHECK((uint64_t)dropped == stats(&f).lines_dropped);
	CHECK(stats(&f).clients == 1);
out:
	client_close(c);
	fixture_stop(&f);
}

/* A client that stops reading is disconnected past the second limit, with
 * the reason logged; a reader alongside it keeps getting every line. */
static void test_disconnect(void)
{
	enum { BURSTS = 200, PER_BURST = 10, TEXT = 1000 };
	struct fixture f;
	struct publisher_options opt = { .queue_max_lines = 8, .disconnect_after_dropped_lines = 100 };
	if (!fixture_start(&f, opt))
		return;
	struct client *stalled = client_open(f.path), *reader = client_open(f.path);
	CHECK(stalled && reader);
	if (!stalled || !reader)
		goto out;
	char *line = client_line(reader);
	g_free(line);
	uint64_t seq = 0;
	int bad = 0;
	for (int b = 0; b < BURSTS; b++) {
		for (int k = 0; k < PER_BURST; k++)
			publish(&f, "cam", ++seq, TEXT);
		for (int k = PER_BURST - 1; k >= 0; k--) {
			line = client_line(reader);
			bad += member_int(line, "seq") != (long long)(seq - (uint64_t)k);
			g_free(line);
		}
	}
	CHECK(bad == 0);
	struct publisher_stats st = stats(&f);
	CHECK(st.clients == 1 && st.clients_disconnected == 1);
	CHECK(logged(&f, "disconnected: stopped reading (101 lines dropped since it last read)"));
	/* The stalled client reads what the kernel held, then end of file. */
	int lines = 0;
	while ((line = client_line(stalled))) {
		lines++;
		g_free(line);
	}
	CHECK(lines > 0);
	char byte;
	CHECK(recv(stalled->fd, &byte, 1, 0) == 0);
out:
	client_close(stalled);
	client_close(reader);
	fixture_stop(&f);
}

/* Garbage, half lines, huge lines and churn never stop the server. */
static void test_hostile_clients(void)
{
	struct fixture f;
	if (!fixture_start(&f, (struct publisher_options){ .max_clients = 16 }))
		return;
	struct client *c = client_open(f.path);
	CHECK(c);
	if (!c)
		goto out;
	g_free(client_line(c));
	static const struct {
		const char *send, *reply;
	} cases[] = {
		{ "hello\n", "{\"class\":\"ERROR\",\"message\":\"expected a JSON object\"}" },
		{ "{\"class\":\"SHUTDOWN\"}\n", "{\"class\":\"ERROR\",\"message\":\"unknown class \\\"SHUTDOWN\\\"\"}" },
		{ "{\"class\":\"WATCH\",\"streams\":[1]}\n",
		  "{\"class\":\"ERROR\",\"message\":\"\\\"streams\\\" must be a list of strings\"}" },
		{ "\xff\xfe\n", "{\"class\":\"ERROR\",\"message\":\"not valid UTF-8\"}" },
		{ "{\"class\":\"POLL\"}\0\n", "{\"class\":\"ERROR\",\"message\":\"NUL byte in the line\"}" },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		size_t len = strlen(cases[i].send);
		if (i == 4)
			len = 18; /* the NUL and the newline */
		CHECK(client_send(c, cases[i].send, len));
		char *line = client_line(c);
		CHECKF(line && strcmp(line, cases[i].reply) == 0, "case %zu: %s", i, show(line));
		g_free(line);
	}
	/* Empty lines are ignored; a line of exactly 4096 bytes is parsed; one
	 * of 100 000 gets one ERROR and is skipped to its newline. */
	char *big = g_strnfill(100000, 'z');
	CHECK(client_say(c, "\n\n"));
	CHECK(client_send(c, big, 4096) && client_say(c, "\n"));
	char *line = client_line(c);
	CHECKF(line && strcmp(line, "{\"class\":\"ERROR\",\"message\":\"expected a JSON object\"}") == 0, "%s", show(line));
	g_free(line);
	CHECK(client_send(c, big, 100000) && client_say(c, "zz\n{\"class\":\"POLL\"}\n"));
	line = client_line(c);
	CHECKF(line && strcmp(line, "{\"class\":\"ERROR\",\"message\":\"line longer than 4096 bytes; discarded\"}") == 0,
	       "%s", line);
	g_free(line);
	line = client_line(c);
	CHECKF(is_class(line, "STATS"), "%s", show(line));
	g_free(line);
	g_free(big);

	/* Churn: connect, maybe write half a line or garbage, hang up. */
	for (int i = 0; i < 300; i++) {
		struct client *x = client_open(f.path);
		if (!x)
			continue;
		if (i % 3 == 1)
			client_say(x, "{\"class\":\"PO");
		if (i % 3 == 2)
			client_send(x, "\0\0\0garbage\n\n", 12);
		client_close(x);
	}
	/* Over max_clients: an ERROR, then end of file. */
	struct client *extra[16] = { 0 };
	for (int i = 0; i < 15; i++) {
		extra[i] = client_open(f.path);
		g_free(extra[i] ? client_line(extra[i]) : NULL); /* VERSION: accepted */
	}
	struct client *refused = client_open(f.path);
	line = refused ? client_line(refused) : NULL;
	CHECKF(line && strcmp(line, "{\"class\":\"ERROR\",\"message\":\"too many clients\"}") == 0, "%s", show(line));
	g_free(line);
	line = refused ? client_line(refused) : NULL;
	CHECK(line == NULL);
	client_close(refused);
	for (int i = 0; i < 15; i++)
		client_close(extra[i]);

	/* Still serving. */
	CHECK(client_say(c, "{\"class\":\"POLL\"}\n"));
	line = client_line(c);
	CHECKF(is_class(line, "STATS"), "%s", show(line));
	g_free(line);
	struct client *fresh = client_open(f.path);
	line = fresh ? client_line(fresh) : NULL;
	CHECK(is_class(line, "VERSION"));
	g_free(line);
	client_close(fresh);
out:
	client_close(c);
	fixture_stop(&f);
}

/* Several producer threads at once (the inference side may be more than
 * one): every line arrives once, each thread's lines in its order. */
struct producer {
	struct fixture *f;
	char stream[16];
};

static gpointer producer_thread(gpointer data)
{
	struct producer *p = data;
	for (uint64_t s = 1; s <= 250; s++)
		publish(p->f, p->stream, s, 20);
	return NULL;
}

static void test_producer_threads(void)
{
	struct fixture f;
	/* 4 x 250 lines fit both the inbox (1024) and the queue: nothing may drop. */
	if (!fixture_start(&f, (struct publisher_options){ .queue_max_lines = 4096 }))
		return;
	struct client *c = client_open(f.path);
	CHECK(c);
	if (!c)
		goto out;
	g_free(client_line(c));
	struct producer producers[4];
	GThread *threads[4];
	for (int i = 0; i < 4; i++) {
		producers[i].f = &f;
		g_snprintf(producers[i].stream, sizeof producers[i].stream, "s%d", i);
		threads[i] = g_thread_new("producer", producer_thread, &producers[i]);
	}
	long long last[4] = { 0 };
	int bad = 0;
	for (int n = 0; n < 1000; n++) {
		char *line = client_line(c);
		const char *at = line ? strstr(line, "\"stream\":\"s") : NULL;
		int i = at ? at[11] - '0' : -1;
		if (i < 0 || i > 3 || member_int(line, "seq") != last[i] + 1) {
			bad++;
		} else {
			last[i]++;
		}
		g_free(line);
	}
	for (int i = 0; i < 4; i++)
		g_thread_join(threads[i]);
	CHECKF(bad == 0 && last[0] == 250 && last[1] == 250 && last[2] == 250 && last[3] == 250, "bad %d", bad);
	struct publisher_stats st = stats(&f);
	CHECK(st.lines_dropped == 0 && st.inbox_dropped == 0 && st.lines_published == 1000);
out:
	client_close(c);
	fixture_stop(&f);
}

/* The main loop stalls while 1100 lines arrive: the inbox keeps the newest
 * 1024, and a client gets one DROPPED for the 76 lost right before the first
 * line after them — at once for a client with nothing queued, at the tail of
 * the queue for one that has unsent lines; a client watching another stream
 * is told nothing. */
struct gate {
	GMutex lock;
	GCond cond;
	bool entered, open;
};

static gboolean gate_cb(gpointer data)
{
	struct gate *g = data;
	g_mutex_lock(&g->lock);
	g->entered = true;
	g_cond_broadcast(&g->cond);
	while (!g->open)
		g_cond_wait(&g->cond, &g->lock);
	g_mutex_unlock(&g->lock);
	return G_SOURCE_REMOVE;
}

static void test_inbox_overflow(void)
{
	enum { PRE = 600, N = 1100, LOST = N - 1024 };
	struct fixture f;
	if (!fixture_start(&f, (struct publisher_options){ .queue_max_lines = 4096, .queue_max_bytes = 1 << 24 }))
		return;
	struct client *all = client_open(f.path), *other = client_open(f.path), *stalled = client_open(f.path);
	CHECK(all && other && stalled);
	if (!all || !other || !stalled)
		goto out;
	char *line = client_line(all);
	g_free(line);
	g_free(client_line(other));
	CHECK(client_say(other, "{\"class\":\"WATCH\",\"streams\":[\"other\"]}\n"));
	line = client_line(other);
	CHECK(is_class(line, "WATCH"));
	g_free(line);
	/* 600 KB the stalled client does not read: more than its socket holds. */
	int bad = 0;
	for (uint64_t s = 1; s <= PRE; s++) {
		publish(&f, "cam", s, 1000);
		line = client_line(all);
		bad += member_int(line, "seq") != (long long)s;
		g_free(line);
	}
	wait_published(&f, PRE);

	struct gate g = { 0 };
	g_mutex_init(&g.lock);
	g_cond_init(&g.cond);
	g_main_context_invoke(f.ctx, gate_cb, &g);
	g_mutex_lock(&g.lock);
	while (!g.entered)
		g_cond_wait(&g.cond, &g.lock);
	g_mutex_unlock(&g.lock);
	for (uint64_t s = PRE + 1; s <= PRE + N; s++)
		publish(&f, "cam", s, 50);
	g_mutex_lock(&g.lock);
	g.open = true;
	g_cond_broadcast(&g.cond);
	g_mutex_unlock(&g.lock);

	line = client_line(all);
	CHECKF(line && strcmp(line, "{\"class\":\"DROPPED\",\"count\":76}") == 0, "%s", show(line));
	g_free(line);
	for (long long s = PRE + LOST + 1; s <= PRE + N; s++) {
		line = client_line(all);
		bad += !is_class(line, "CAPTION") || member_int(line, "seq") != s;
		g_free(line);
	}
	CHECK(bad == 0);
	/* The stalled client: its 600, the notice, the rest. */
	long long last = 0, pending = 0, notices = 0;
	g_free(client_line(stalled)); /* VERSION */
	while (last < PRE + N && (line = client_line(stalled))) {
		if (is_class(line, "DROPPED")) {
			pending = member_int(line, "count");
			notices++;
		} else {
			bad += member_int(line, "seq") != last + 1 + pending;
			last = member_int(line, "seq");
			if (pending && last != PRE + LOST + 1)
				bad++;
			pending = 0;
		}
		g_free(line);
	}
	CHECKF(bad == 0 && notices == 1 && last == PRE + N, "bad %d notices %lld last %lld", bad, notices, last);
	CHECK(client_say(other, "{\"class\":\"POLL\"}\n"));
	line = client_line(other);
	CHECKF(is_class(line, "STATS") && member_int(line, "inbox_dropped") == LOST, "%s", show(line));
	g_free(line);
	g_mutex_clear(&g.lock);
	g_cond_clear(&g.cond);
out:
	client_close(all);
	client_close(other);
	client_close(stalled);
	fixture_stop(&f);
}

static void test_socket_file(void)
{
	char *dir = g_dir_make_tmp("test-publisher-XXXXXX", NULL);
	char *path = g_build_filename(dir, "c.sock", NULL);
	struct publisher_options opt = { .socket_path = path, .socket_mode = 0640, .release = "1" };
	struct publisher *pub = NULL;
	char why[256] = "";

	/* A regular file is never removed. */
	CHECK(g_file_set_contents(path, "keep", -1, NULL));
	CHECK(publisher_create(&opt, NULL, &pub, why, sizeof why) == -EEXIST && !pub);
	char *keep = NULL;
	CHECK(g_file_get_contents(path, &keep, NULL, NULL) && strcmp(keep, "keep") == 0);
	g_free(keep);
	unlink(path);

	/* A stale socket (bound, nobody listening) is replaced. */
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	g_strlcpy(addr.sun_path, path, sizeof addr.sun_path);
	int stale = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(bind(stale, (struct sockaddr *)&addr, sizeof addr) == 0);
	close(stale);
	int rc = publisher_create(&opt, NULL, &pub, why, sizeof why);
	CHECKF(rc == 0, "%s", why);
	struct stat st;
	CHECK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0640);

	/* A live socket is left alone. */
	struct publisher *second = NULL;
	CHECK(publisher_create(&opt, NULL, &second, why, sizeof why) == -EADDRINUSE && !second);
	publisher_destroy(pub);
	CHECK(access(path, F_OK) != 0);

	/* The daemon's own group by name; an unknown group is refused. */
	struct group *gr = getgrgid(getgid());
	if (gr) {
		opt.socket_group = gr->gr_name;
		CHECKF(publisher_create(&opt, NULL, &pub, why, sizeof why) == 0, "%s", why);
		CHECK(stat(path, &st) == 0 && st.st_gid == getgid());
		publisher_destroy(pub);
	}
	opt.socket_group = "no-such-group-captiond";
	CHECK(publisher_create(&opt, NULL, &pub, why, sizeof why) == -ENOENT);
	CHECK(strcmp(why, "group no-such-group-captiond: no such group") == 0);
	opt.socket_group = NULL;

	char *long_path = g_strnfill(200, 'p');
	opt.socket_path = long_path;
	CHECK(publisher_create(&opt, NULL, &pub, why, sizeof why) == -ENAMETOOLONG);
	g_free(long_path);
	publisher_destroy(NULL);
	g_rmdir(dir);
	g_free(path);
	g_free(dir);
}

int main(void)
{
	test_version_poll();
	test_out_of_fds();
	test_watch();
	test_many_subscribers();
	test_dropped_notice();
	test_disconnect();
	test_hostile_clients();
	test_producer_threads();
	test_inbox_overflow();
	test_socket_file();
	return check_report();
}
