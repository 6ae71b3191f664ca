/* pipeline/webvtt.c — WebVTT cues from captions. */
#include "pipeline/webvtt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "pipeline/caption_layout.h"

struct webvtt_writer {
	FILE *file;
	char *pending;            /* escaped text of the cue not yet written */
	uint64_t pending_start_ms;
	uint32_t pending_hold_ms;
	uint64_t last_start_ms;
	uint64_t last_end_ms;     /* end of the last cue written */
	uint64_t n_cues;
	int error;                /* first write error */
};

char *webvtt_text_escape(const char *text)
{
	char *clean = g_utf8_make_valid(text ? text : "", -1);
	GString *s = g_string_sized_new(strlen(clean) + 16);
	for (const char *p = clean; *p; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		if (c == '&')
			g_string_append(s, "&amp;");
		else if (c == '<')
			g_string_append(s, "&lt;");
		else if (c == '>')
			g_string_append(s, "&gt;");
		else if (g_unichar_iscntrl(c) || c == 0x2028 || c == 0x2029)
			g_string_append_c(s, ' ');
		else
			g_string_append_len(s, p, g_utf8_next_char(p) - p);
	}
	g_free(clean);
	return g_string_free(s, FALSE);
}

void webvtt_timestamp_format(uint64_t ms, char *buf, size_t size)
{
	uint64_t h = ms / 3600000, m = ms / 60000 % 60, sec = ms / 1000 % 60, t = ms % 1000;
	snprintf(buf, size, "%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64 ".%03" PRIu64, h, m, sec, t);
}

static int write_pending(struct webvtt_writer *w, uint64_t end_ms)
{
	if (!w->pending)
		return 0;
	uint64_t hold_end = w->pending_start_ms + w->pending_hold_ms;
	if (end_ms > hold_end)
		end_ms = hold_end;
	if (end_ms <= w->pending_start_ms)
		end_ms = w->pending_start_ms + 1;
	char a[32], b[32];
	webvtt_timestamp_format(w->pending_start_ms, a, sizeof(a));
	webvtt_timestamp_format(end_ms, b, sizeof(b));
	w->last_end_ms = end_ms;
	w->n_cues++;
	if (fprintf(w->file, "%" PRIu64 "\n%s --> %s\n%s\n\n", w->n_cues, a, b, w->pending) < 0 && !w->error)
		w->error = -(errno ? errno : EIO);
	g_clear_pointer(&w->pending, g_free);
	return w->error;
}

int webvtt_writer_create(const char *path, struct webvtt_writer **out)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	if (fputs("WEBVTT\n\n", f) < 0) {
		int rc = -(errno ? errno : EIO);
		fclose(f);
		return rc;
	}
	struct webvtt_writer *w = g_new0(struct webvtt_writer, 1);
	w->file = f;
	*out = w;
	return 0;
}

int webvtt_writer_add(struct webvtt_writer *w, uint64_t stream_time_ns, const char *text)
{
	uint64_t start_ms = stream_time_ns / 1000000;
	/* Time went backwards: the previous cue keeps its hold time. */
	int rc = write_pending(w, start_ms < w->last_start_ms ? UINT64_MAX : start_ms);
	if (start_ms < w->last_end_ms)
		start_ms = w->last_end_ms;
	w->pending = webvtt_text_escape(text);
	w->pending_start_ms = start_ms;
	w->pending_hold_ms = caption_layout_hold_ms(caption_layout_char_count(text));
	w->last_start_ms = start_ms;
	return rc;
}

int webvtt_writer_flush(struct webvtt_writer *w)
{
	write_pending(w, UINT64_MAX);
	if (fflush(w->file) != 0 && !w->error)
		w->error = -(errno ? errno : EIO);
	return w->error;
}

int webvtt_writer_destroy(struct webvtt_writer *w)
{
	if (!w)
		return 0;
	int rc = webvtt_writer_flush(w);
	if (fclose(w->file) != 0 && !rc)
		rc = -(errno ? errno : EIO);
	g_free(w->pending);
	g_free(w);
	return rc;
}
