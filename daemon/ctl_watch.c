/* daemon/ctl_watch.c — captionctl watch: print captions from the daemon's
 * socket as they come (docs/protocol.md), and the socket helpers that
 * captionctl status shares.
 *
 * The daemon writes the lines, but they are read as untrusted input: a line
 * is at most CTL_LINE_MAX bytes and members are looked up, never assumed.
 */
#include "daemon/captionctl.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>

#include "daemon/protocol.h"

#define DEFAULT_SOCKET "/run/captiond/captions.sock"

const char *ctl_socket_default(void)
{
	const char *env = g_getenv("CAPTIOND_SOCKET");
	return env && *env ? env : DEFAULT_SOCKET;
}

int ctl_socket_connect(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof a.sun_path) {
		fprintf(stderr, "captionctl: socket path too long: %s\n", path);
		return -ENAMETOOLONG;
	}
	strcpy(a.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		int e = errno;
		fprintf(stderr, "captionctl: cannot connect to %s: %s (is captiond running?)\n", path, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	return fd;
}

int ctl_line_read(int fd, GString *buf, GString *line, int timeout_ms)
{
	for (;;) {
		char *nl = memchr(buf->str, '\n', buf->len);
		if (nl) {
			g_string_truncate(line, 0);
			g_string_append_len(line, buf->str, nl - buf->str);
			g_string_erase(buf, 0, nl - buf->str + 1);
			return 1;
		}
		if (buf->len > CTL_LINE_MAX)
			return -EMSGSIZE;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, timeout_ms);
		if (r == 0)
			return 0;
		if (r < 0)
			return errno == EINTR ? 0 : -errno;
		char tmp[4096];
		ssize_t n = read(fd, tmp, sizeof tmp);
		if (n == 0)
			return -EPIPE;
		if (n < 0)
			return errno == EINTR || errno == EAGAIN ? 0 : -errno;
		g_string_append_len(buf, tmp, n);
	}
}

/* The raw value text after "key": (up to the next , or } outside a string). */
static const char *member(const char *line, const char *key, size_t *len)
{
	char *pat = g_strdup_printf("\"%s\":", key);
	const char *p = strstr(line, pat);
	size_t plen = strlen(pat);
	g_free(pat);
	if (!p)
		return NULL;
	p += plen;
	const char *q = p;
	bool in_str = false;
	for (; *q; q++) {
		if (in_str && *q == '\\' && q[1])
			q++;
		else if (*q == '"')
			in_str = !in_str;
		else if (!in_str && (*q == ',' || *q == '}'))
			break;
	}
	*len = (size_t)(q - p);
	return p;
}

char *ctl_json_string(const char *line, const char *key)
{
	size_t n;
	const char *v = member(line, key, &n);
	if (!v || n < 2 || v[0] != '"' || v[n - 1] != '"')
		return NULL;
	char *raw = g_strndup(v + 1, n - 2);
	char *out = g_strcompress(raw); /* JSON escapes: \" \\ \n \t; \uXXXX kept as written */
	g_free(raw);
	return out;
}

bool ctl_json_number(const char *line, const char *key, double *out)
{
	size_t n;
	const char *v = member(line, key, &n);
	if (!v || n == 0 || n > 64)
		return false;
	char tmp[65];
	memcpy(tmp, v, n);
	tmp[n] = '\0';
	char *end;
	*out = g_ascii_strtod(tmp, &end);
	return end != tmp && *end == '\0';
}

static void usage(FILE *f)
{
	fprintf(f, "usage: captionctl watch [--socket PATH] [--stream NAME]... [--json] [--count N] [--timeout S]\n"
		   "Prints captions (and stream state changes) from captiond as they come.\n"
		   "--count N: exit after N captions; --timeout S: exit after S seconds (status 1 when\n"
		   "--count was not reached). Socket: $CAPTIOND_SOCKET or " DEFAULT_SOCKET ".\n");
}

int ctl_watch_main(int argc, char **argv)
{
	const char *path = ctl_socket_default();
	bool json = false;
	unsigned long count = 0;
	double timeout_s = 0;
	GPtrArray *streams = g_ptr_array_new();
	for (int i = 1; i < argc; i++) {
		bool has = i + 1 < argc;
		if (!strcmp(argv[i], "--socket") && has)
			path = argv[++i];
		else if (!strcmp(argv[i], "--stream") && has)
			g_ptr_array_add(streams, argv[++i]);
		else if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--count") && has)
			count = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--timeout") && has)
			timeout_s = g_ascii_strtod(argv[++i], NULL);
		else {
			usage(!strcmp(argv[i], "--help") ? stdout : stderr);
			g_ptr_array_free(streams, TRUE);
			return strcmp(argv[i], "--help") ? 2 : 0;
		}
	}
	int fd = ctl_socket_connect(path);
	if (fd < 0) {
		g_ptr_array_free(streams, TRUE);
		return 1;
	}
	if (streams->len) {
		GString *cmd = g_string_new("{\"class\":\"WATCH\",\"streams\":[");
		for (guint i = 0; i < streams->len; i++) {
			if (i)
				g_string_append_c(cmd, ',');
			protocol_json_string_append(cmd, g_ptr_array_index(streams, i));
		}
		g_string_append(cmd, "]}\n");
		if (write(fd, cmd->str, cmd->len) != (ssize_t)cmd->len)
			fprintf(stderr, "captionctl: sending WATCH failed\n");
		g_string_free(cmd, TRUE);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	GString *buf = g_string_new(NULL), *line = g_string_new(NULL);
	const int64_t end = timeout_s > 0 ? g_get_monotonic_time() + (int64_t)(timeout_s * 1e6) : 0;
	unsigned long got = 0;
	int status = 0;
	for (;;) {
		int wait = 1000;
		if (end) {
			int64_t left = (end - g_get_monotonic_time()) / 1000;
			if (left <= 0) {
				status = count && got < count ? 1 : 0;
				break;
			}
			wait = (int)MIN(left, 1000);
		}
		int r = ctl_line_read(fd, buf, line, wait);
		if (r < 0) {
			fprintf(stderr, "captionctl: connection closed by captiond\n");
			status = 1;
			break;
		}
		if (r == 0)
			continue;
		char *cls = ctl_json_string(line->str, "class");
		bool caption = cls && !strcmp(cls, "CAPTION");
		if (json) {
			if (caption || (cls && strcmp(cls, "VERSION") && strcmp(cls, "WATCH")))
				printf("%s\n", line->str);
		} else if (caption) {
			char *s = ctl_json_string(line->str, "stream"), *t = ctl_json_string(line->str, "text");
			double seq = 0, lat = 0;
			ctl_json_number(line->str, "seq", &seq);
			ctl_json_number(line->str, "latency_ms", &lat);
			printf("%s #%.0f (%.0f ms): %s\n", s ? s : "?", seq, lat, t ? t : "");
			g_free(s);
			g_free(t);
		} else if (cls && !strcmp(cls, "STREAM")) {
			char *s = ctl_json_string(line->str, "stream"), *st = ctl_json_string(line->str, "state");
			char *m = ctl_json_string(line->str, "message");
			printf("%s: %s%s%s\n", s ? s : "?", st ? st : "?", m ? " — " : "", m ? m : "");
			g_free(s);
			g_free(st);
			g_free(m);
		} else if (cls && !strcmp(cls, "DROPPED")) {
			printf("(%s)\n", line->str);
		}
		g_free(cls);
		if (caption && count && ++got >= count)
			break;
	}
	g_string_free(buf, TRUE);
	g_string_free(line, TRUE);
	g_ptr_array_free(streams, TRUE);
	close(fd);
	return status;
}
