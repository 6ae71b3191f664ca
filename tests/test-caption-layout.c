/* tests/test-caption-layout.c — the overlay's line breaking, reading time and
 * hold scheduler (pure C, fake clock).
 *
 * Expected layouts are worked out by hand from the rules in
 * pipeline/caption_layout.h (subtitle practice: two lines of at most 42
 * characters, greedy breaks at spaces, "…" when cut); reading times from
 * 17 characters per second with a 1.5 s floor.
 */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "pipeline/caption_hold.h"
#include "pipeline/caption_layout.h"
#include "tests/check.h"

struct layout_case {
	const char *what;
	const char *in;
	const char *out;
	size_t n_lines, n_chars;
	bool truncated;
};

static void check_layout(const char *what, const char *in, const char *out, size_t n_lines, size_t n_chars,
			 bool truncated)
{
	struct caption_layout_result r;
	CHECK(caption_layout_format(in, 2, 42, &r) == 0);
	CHECKF(strcmp(r.text, out) == 0, "%s: got \"%s\" want \"%s\"", what, r.text, out);
	CHECKF(r.n_lines == n_lines, "%s: %zu lines", what, r.n_lines);
	CHECKF(r.n_chars == n_chars, "%s: %zu chars", what, r.n_chars);
	CHECKF(r.truncated == truncated, "%s: truncated %d", what, r.truncated);
	/* Every line within the limit, counted independently with g_utf8. */
	char **lines = g_strsplit(r.text, "\n", -1);
	for (char **l = lines; *l; l++) {
		size_t marks = 0;
		for (const char *p = *l; *p; p = g_utf8_next_char(p))
			marks += g_unichar_ismark(g_utf8_get_char(p)) ? 1 : 0;
		CHECKF(g_utf8_strlen(*l, -1) - (glong)marks <= 42, "%s: line \"%s\" too long", what, *l);
	}
	g_strfreev(lines);
	g_free(r.text);
}

static char *repeat(const char *unit, int n)
{
	GString *s = g_string_new(NULL);
	for (int i = 0; i < n; i++)
		g_string_append(s, unit);
	return g_string_free(s, FALSE);
}

static void test_table(void)
{
	static const struct layout_case cases[] = {
		{ "empty", "", "", 0, 0, false },
		{ "only spaces", " \t\n ", "", 0, 0, false },
		{ "spaces collapse", "  A   person\twalks\n ", "A person walks", 1, 14, false },
		{ "control chars break", "a\x01" "b", "a b", 1, 3, false },
		{ "two lines",
		  "The quick brown fox jumps over the lazy dog near the river bank today",
		  "The quick brown fox jumps over the lazy\ndog near the river bank today", 2, 68, false },
		{ "ellipsis fits",
		  "The quick brown fox jumps over the lazy dog near the river bank today and then it ran away",
		  "The quick brown fox jumps over the lazy\ndog near the river bank today and then it\u2026", 2, 81,
		  true },
		{ "ellipsis drops a word",
		  "The quick brown fox jumps over the lazy dog near the river bank today and then its owner came",
		  "The quick brown fox jumps over the lazy\ndog near the river bank today and then\u2026", 2, 78, true },
		{ "invalid utf-8", "ab\xff cd", "ab\uFFFD cd", 1, 6, false },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
		check_layout(cases[i].what, cases[i].in, cases[i].out, cases[i].n_lines, cases[i].n_chars,
			     cases[i].truncated);

	/* Long words: cut at 42 characters, each piece starting a line. */
	char *a50 = repeat("a", 50), *a41 = repeat("a", 41), *b60 = repeat("b", 60), *b42 = repeat("b", 42),
	     *b18 = repeat("b", 18);
	char *in = g_strconcat("hi ", a50, NULL), *out = g_strconcat("hi\n", a41, "\u2026", NULL);
	check_layout("long word truncated", in, out, 2, 44, true);
	g_free(in);
	g_free(out);
	out = g_strconcat(b42, "\n", b18, NULL);
	check_layout("long word on two lines", b60, out, 2, 60, false);
	g_free(out);

	/* Multibyte: é is 2 bytes, 日 3 bytes, each one character. */
	char *e42 = repeat("\u00e9", 42), *e43 = repeat("\u00e9", 43), *e100 = repeat("\u00e9", 100),
	     *e41 = repeat("\u00e9", 41);
	check_layout("42 two-byte chars", e42, e42, 1, 42, false);
	out = g_strconcat(e42, "\n\u00e9", NULL);
	check_layout("43 two-byte chars", e43, out, 2, 43, false);
	g_free(out);
	out = g_strconcat(e42, "\n", e41, "\u2026", NULL);
	check_layout("100 two-byte chars", e100, out, 2, 84, true);
	g_free(out);
	char *cjk50 = repeat("\u65e5", 50), *cjk42 = repeat("\u65e5", 42), *cjk8 = repeat("\u65e5", 8);
	out = g_strconcat(cjk42, "\n", cjk8, NULL);
	check_layout("CJK without spaces", cjk50, out, 2, 50, false);
	g_free(out);

	/* Combining: e + U+0301 is one character and is never split. */
	char *c42 = repeat("e\u0301", 42), *c43 = repeat("e\u0301", 43);
	check_layout("42 combining pairs", c42, c42, 1, 42, false);
	out = g_strconcat(c42, "\ne\u0301", NULL);
	check_layout("43 combining pairs", c43, out, 2, 43, false);
	g_free(out);
	CHECK(caption_layout_char_count("e\u0301\u0323x") == 2);
	CHECK(caption_layout_char_count("\u0301a") == 2); /* a leading mark stands alone */
	CHECK(caption_layout_char_count("\u65e5\u672c\u8a9e") == 3);

	struct caption_layout_result r;
	CHECK(caption_layout_format(NULL, 2, 42, &r) == -EINVAL);
	CHECK(caption_layout_format("x", 0, 42, &r) == -EINVAL);
	CHECK(caption_layout_format("x", 2, 1, &r) == -EINVAL);

	g_free(a50); g_free(a41); g_free(b60); g_free(b42); g_free(b18);
	g_free(e42); g_free(e43); g_free(e100); g_free(e41);
	g_free(cjk50); g_free(cjk42); g_free(cjk8); g_free(c42); g_free(c43);
}

static void test_hold_ms(void)
{
	/* 17 characters per second, rounded up, at least 1500 ms. */
	CHECK(caption_layout_hold_ms(0) == 1500);
	CHECK(caption_layout_hold_ms(17) == 1500);
	CHECK(caption_layout_hold_ms(25) == 1500);   /* 1470.6 */
	CHECK(caption_layout_hold_ms(26) == 1530);   /* 1529.4 */
	CHECK(caption_layout_hold_ms(34) == 2000);
	CHECK(caption_layout_hold_ms(42) == 2471);   /* 2470.6 */
	CHECK(caption_layout_hold_ms(85) == 5000);
}

static void test_scheduler(void)
{
	struct caption_hold *h = caption_hold_create();
	CHECK(caption_hold_shown(h) == NULL);
	CHECK(caption_hold_next_ms(h) == -1);
	CHECK(caption_hold_poll(h, 0) == NULL);

	CHECK(caption_hold_push(h, "A", 1500, 0));            /* nothing on screen: now */
	CHECK(strcmp(caption_hold_shown(h), "A") == 0);
	CHECK(!caption_hold_push(h, "B", 1500, 500));         /* A is being read */
	CHECK(caption_hold_next_ms(h) == 1500);
	CHECK(caption_hold_poll(h, 1000) == NULL);
	CHECK(!caption_hold_push(h, "C", 2000, 1200));        /* latest wins: B never shown */
	CHECK(caption_hold_replaced(h) == 1);
	CHECK(caption_hold_poll(h, 1499) == NULL);
	CHECK(strcmp(caption_hold_shown(h), "A") == 0);
	const char *t = caption_hold_poll(h, 1500);
	CHECK(t && strcmp(t, "C") == 0);
	CHECK(caption_hold_next_ms(h) == -1);
	CHECK(caption_hold_poll(h, 1600) == NULL);            /* nothing pending */

	/* C is held 2000 ms from 1500: a caption after 3500 is shown at once. */
	CHECK(!caption_hold_push(h, "D", 1500, 3499));
	t = caption_hold_poll(h, 3500);
	CHECK(t && strcmp(t, "D") == 0);
	CHECK(caption_hold_push(h, "E", 1500, 5000));         /* D's hold ended at 5000 */
	CHECK(strcmp(caption_hold_shown(h), "E") == 0);

	/* A pending caption whose turn passed unpolled loses to a newer one. */
	CHECK(!caption_hold_push(h, "F", 1500, 5100));
	CHECK(caption_hold_push(h, "G", 1500, 7000));
	CHECK(strcmp(caption_hold_shown(h), "G") == 0);
	CHECK(caption_hold_replaced(h) == 2);
	CHECK(caption_hold_next_ms(h) == -1);
	caption_hold_destroy(h);
	caption_hold_destroy(NULL);
}

int main(void)
{
	test_table();
	test_hold_ms();
	test_scheduler();
	return check_report();
}
