/* tests/test-webvtt.c — captions written as WebVTT and parsed back.
 *
 * The parser below follows the W3C WebVTT syntax (file = "WEBVTT" header,
 * blank line, cues of: optional identifier line, "start --> end" timing
 * line with hh:mm:ss.ttt or mm:ss.ttt timestamps, text lines, blank line;
 * cue text may not contain "-->", '<' or '&' except in escapes). Expected
 * cue ends come from the rule in pipeline/webvtt.h: the next caption's start
 * or start + reading time (17 characters per second, at least 1.5 s).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "pipeline/webvtt.h"
#include "tests/check.h"

struct cue {
	uint64_t start_ms, end_ms;
	char *text;
};

/* hh:mm:ss.ttt or mm:ss.ttt; returns false when malformed. */
static bool parse_timestamp(const char *s, uint64_t *ms)
{
	unsigned a, b, c, t;
	int n = 0;
	if (sscanf(s, "%u:%2u:%2u.%3u%n", &a, &b, &c, &t, &n) == 4 && (size_t)n == strlen(s) && b < 60 && c < 60) {
		*ms = ((uint64_t)a * 3600 + b * 60 + c) * 1000 + t;
		return strlen(s) >= 12;
	}
	if (sscanf(s, "%2u:%2u.%3u%n", &b, &c, &t, &n) == 3 && (size_t)n == strlen(s) && c < 60) {
		*ms = ((uint64_t)b * 60 + c) * 1000 + t;
		return strlen(s) == 9;
	}
	return false;
}

static char *unescape(const char *s)
{
	GString *o = g_string_new(NULL);
	for (const char *p = s; *p;) {
		if (g_str_has_prefix(p, "&amp;")) {
			g_string_append_c(o, '&');
			p += 5;
		} else if (g_str_has_prefix(p, "&lt;")) {
			g_string_append_c(o, '<');
			p += 4;
		} else if (g_str_has_prefix(p, "&gt;")) {
			g_string_append_c(o, '>');
			p += 4;
		} else {
			g_string_append_c(o, *p++);
		}
	}
	return g_string_free(o, FALSE);
}

/* Parse a whole file; returns the cues or NULL when it is not valid WebVTT. */
static GArray *parse_vtt(const char *text)
{
	if (!g_str_has_prefix(text, "WEBVTT") || (text[6] != '\n' && text[6] != ' ' && text[6] != '\t'))
		return NULL;
	GArray *cues = g_array_new(FALSE, TRUE, sizeof(struct cue));
	char **blocks = g_strsplit(text, "\n\n", -1);
	bool ok = true;
	for (char **b = blocks + 1; *b && ok; b++) {
		if (!**b)
			continue;
		char **lines = g_strsplit(*b, "\n", -1);
		char **l = lines;
		if (*l && !strstr(*l, "-->"))
			l++; /* identifier */
		char start[32], end[32];
		struct cue c = { 0 };
		ok = *l && sscanf(*l, "%31s --> %31s", start, end) == 2 && parse_timestamp(start, &c.start_ms) &&
		     parse_timestamp(end, &c.end_ms) && c.end_ms > c.start_ms;
		if (ok) {
			GString *t = g_string_new(NULL);
			for (l++; *l; l++) {
				ok = ok && !strstr(*l, "-->") && !strchr(*l, '<');
				for (const char *p = strchr(*l, '&'); ok && p; p = strchr(p + 1, '&'))
					ok = g_str_has_prefix(p, "&amp;") || g_str_has_prefix(p, "&lt;") ||
					     g_str_has_prefix(p, "&gt;");
				if (t->len)
					g_string_append_c(t, '\n');
				g_string_append(t, *l);
			}
			c.text = unescape(t->str);
			g_string_free(t, TRUE);
			g_array_append_val(cues, c);
		}
		g_strfreev(lines);
	}
	g_strfreev(blocks);
	if (!ok) {
		for (guint i = 0; i < cues->len; i++)
			g_free(g_array_index(cues, struct cue, i).text);
		g_array_free(cues, TRUE);
		return NULL;
	}
	return cues;
}

static void test_round_trip(const char *dir)
{
	char *path = g_build_filename(dir, "captions.vtt", NULL);
	struct webvtt_writer *w = NULL;
	CHECK(webvtt_writer_create(path, &w) == 0);
	const uint64_t ms = 1000000;
	CHECK(webvtt_writer_add(w, 1000 * ms + 123, "A cat & a dog <b>sleep</b> --> here") == 0);
	CHECK(webvtt_writer_add(w, 2000 * ms, "Second caption") == 0);
	CHECK(webvtt_writer_add(w, 10000 * ms, "Line\nbreak\r\n\nthird") == 0);
	CHECK(webvtt_writer_add(w, 3725500 * ms, "A caption long enough to be held longer: 51 chars..") == 0);
	CHECK(webvtt_writer_add(w, 3000 * ms, "Back in time \xff") == 0);
	CHECK(webvtt_writer_destroy(w) == 0);

	char *text = NULL;
	CHECK(g_file_get_contents(path, &text, NULL, NULL));
	GArray *cues = text ? parse_vtt(text) : NULL;
	CHECKF(cues != NULL, "not valid WebVTT:\n%s", text ? text : "");
	struct cue want[] = {
		{ 1000, 2000, "A cat & a dog <b>sleep</b> --> here" },    /* next caption first */
		{ 2000, 3500, "Second caption" },                         /* 14 chars: 1.5 s */
		{ 10000, 11500, "Line break   third" },                   /* controls -> spaces */
		{ 3725500, 3728500, "A caption long enough to be held longer: 51 chars.." }, /* 51/17 = 3 s */
		{ 3728500, 3730000, "Back in time \uFFFD" },                  /* clamped after the last */
	};
	if (cues) {
		CHECK(cues->len == G_N_ELEMENTS(want));
		for (guint i = 0; i < cues->len && i < G_N_ELEMENTS(want); i++) {
			struct cue *c = &g_array_index(cues, struct cue, i);
			CHECKF(c->start_ms == want[i].start_ms && c->end_ms == want[i].end_ms,
			       "cue %u: %" PRIu64 " --> %" PRIu64, i, c->start_ms, c->end_ms);
			CHECKF(strcmp(c->text, want[i].text) == 0, "cue %u: \"%s\"", i, c->text);
			g_free(c->text);
		}
		g_array_free(cues, TRUE);
	}
	CHECK(text && strstr(text, "01:02:05.500 --> 01:02:08.500\n"));
	g_free(text);
	g_unlink(path);
	g_free(path);
}

static void test_escape_and_errors(const char *dir)
{
	char *e = webvtt_text_escape("a-->b<&>");
	CHECK(strcmp(e, "a--&gt;b&lt;&amp;&gt;") == 0);
	g_free(e);
	char buf[32];
	webvtt_timestamp_format(0, buf, sizeof(buf));
	CHECK(strcmp(buf, "00:00:00.000") == 0);
	webvtt_timestamp_format(100ull * 3600000 + 59999, buf, sizeof(buf));
	CHECK(strcmp(buf, "100:00:59.999") == 0);

	struct webvtt_writer *w = NULL;
	char *bad = g_build_filename(dir, "no-such-dir", "x.vtt", NULL);
	CHECK(webvtt_writer_create(bad, &w) == -ENOENT);
	g_free(bad);
	CHECK(webvtt_writer_destroy(NULL) == 0);

	/* An empty recording is a valid file without cues. */
	char *path = g_build_filename(dir, "empty.vtt", NULL);
	CHECK(webvtt_writer_create(path, &w) == 0);
	CHECK(webvtt_writer_destroy(w) == 0);
	char *text = NULL;
	CHECK(g_file_get_contents(path, &text, NULL, NULL));
	GArray *cues = text ? parse_vtt(text) : NULL;
	CHECK(cues && cues->len == 0);
	if (cues)
		g_array_free(cues, TRUE);
	g_free(text);
	g_unlink(path);
	g_free(path);
}

int main(void)
{
	char *dir = g_dir_make_tmp("test-webvtt-XXXXXX", NULL);
	if (!dir)
		check_skip("cannot make a temporary directory");
	test_round_trip(dir);
	test_escape_and_errors(dir);
	g_rmdir(dir);
	g_free(dir);
	return check_report();
}
