/* daemon/ctl_status.c — captionctl status: ask captiond for its STATS
 * (docs/protocol.md: POLL) and print them. */
#include "daemon/captionctl.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: captionctl status [--socket PATH] [--json]\n"
		   "Prints captiond's counters: clients, lines, and per stream its state, frames in and\n"
		   "dropped, captions per second, capture-to-caption latency p50/p95 and frames the\n"
		   "scene-change gate skipped; the batch sizes and sequences per decode step.\n");
}

/* Print the members of the object starting at p ("{...}"), one per line. */
static void print_stream(const char *obj)
{
	char *name = ctl_json_string(obj, "name"), *state = ctl_json_string(obj, "state");
	double fps = 0, cps = 0, p50 = -1, p95 = -1, in = 0, drop = 0, caps = 0, skipped = 0;
	ctl_json_number(obj, "fps_in", &fps);
	ctl_json_number(obj, "captions_per_s", &cps);
	ctl_json_number(obj, "frames_in", &in);
	ctl_json_number(obj, "frames_dropped", &drop);
	ctl_json_number(obj, "captions", &caps);
	printf("  %-16s %-12s %6.1f fps in  %8.0f frames  %8.0f dropped  %6.0f captions  %5.2f/s",
	       name ? name : "?", state ? state : "?", fps, in, drop, caps, cps);
	if (ctl_json_number(obj, "latency_p50_ms", &p50) && ctl_json_number(obj, "latency_p95_ms", &p95))
		printf("  latency p50 %.0f ms p95 %.0f ms", p50, p95);
	if (ctl_json_number(obj, "skipped_unchanged", &skipped) && skipped > 0)
		printf("  %.0f unchanged (skipped)", skipped);
	printf("\n");
	g_free(name);
	g_free(state);
}

int ctl_status_main(int argc, char **argv)
{
	const char *path = ctl_socket_default();
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			path = argv[++i];
		else if (!strcmp(argv[i], "--json"))
			json = true;
		else {
			usage(!strcmp(argv[i], "--help") ? stdout : stderr);
			return strcmp(argv[i], "--help") ? 2 : 0;
		}
	}
	int fd = ctl_socket_connect(path);
	if (fd < 0)
		return 1;
	static const char poll_cmd[] = "{\"class\":\"WATCH\",\"streams\":[]}\n{\"class\":\"POLL\"}\n";
	int status = 1;
	if (write(fd, poll_cmd, sizeof poll_cmd - 1) != (ssize_t)(sizeof poll_cmd - 1)) {
		fprintf(stderr, "captionctl: sending POLL failed\n");
		close(fd);
		return 1;
	}
	GString *buf = g_string_new(NULL), *line = g_string_new(NULL);
	for (int tries = 0; tries < 50; tries++) {
		int r = ctl_line_read(fd, buf, line, 100);
		if (r < 0)
			break;
		if (r == 0)
			continue;
		char *cls = ctl_json_string(line->str, "class");
		bool stats = cls && !strcmp(cls, "STATS");
		g_free(cls);
		if (!stats)
			continue;
		status = 0;
		if (json) {
			printf("%s\n", line->str);
			break;
		}
		double up = 0, clients = 0, pub = 0, dropped = 0, batches = 0, steps = 0, rows = 0;
		ctl_json_number(line->str, "uptime_s", &up);
		ctl_json_number(line->str, "clients", &clients);
		ctl_json_number(line->str, "lines_published", &pub);
		ctl_json_number(line->str, "lines_dropped", &dropped);
		ctl_json_number(line->str, "batches", &batches);
		printf("captiond: up %.0f s, %.0f client%s, %.0f lines published, %.0f dropped, %.0f batches\n", up,
		       clients, clients == 1 ? "" : "s", pub, dropped, batches);
		if (ctl_json_number(line->str, "decode_steps", &steps) && ctl_json_number(line->str, "decode_rows", &rows) &&
		    steps > 0)
			printf("decode: %.0f steps, %.2f sequences per step\n", steps, rows / steps);
		const char *sizes = strstr(line->str, "\"batch_sizes\":");
		if (sizes) {
			const char *e = strchr(sizes, '}');
			printf("batch sizes: %.*s\n", e ? (int)(e - sizes - 13) : 0, sizes + 14);
		}
		const char *p = strstr(line->str, "\"streams\":[");
		printf("streams:\n");
		while (p && (p = strchr(p, '{')) != NULL) {
			const char *e = strchr(p, '}');
			if (!e)
				break;
			char *obj = g_strndup(p, (gsize)(e - p + 1));
			print_stream(obj);
			g_free(obj);
			p = e + 1;
			if (*p != ',')
				break;
		}
		break;
	}
	if (status)
		fprintf(stderr, "captionctl: no STATS from captiond\n");
	g_string_free(buf, TRUE);
	g_string_free(line, TRUE);
	close(fd);
	return status;
}
