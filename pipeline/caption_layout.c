/* pipeline/caption_layout.c — line breaking and reading time of captions. */
#include "pipeline/caption_layout.h"

#include <errno.h>
#include <string.h>

#include <glib.h>

/* A run of the cleaned text: a word, or a max_chars piece of a long word. */
struct piece {
	const char *start, *end;
	size_t n_chars;
};

static bool is_break(gunichar c)
{
	return g_unichar_isspace(c) || g_unichar_iscntrl(c);
}

/* Characters in [s, e): a mark joins the character before it. */
static size_t count_chars(const char *s, const char *e)
{
	size_t n = 0;
	for (const char *p = s; p < e; p = g_utf8_next_char(p)) {
		if (n == 0 || !g_unichar_ismark(g_utf8_get_char(p)))
			n++;
	}
	return n;
}

/* The end of the first k characters of [s, e) (k >= 1). */
static const char *advance_chars(const char *s, const char *e, size_t k)
{
	size_t n = 0;
	const char *p = s;
	for (; p < e; p = g_utf8_next_char(p)) {
		if (n == 0 || !g_unichar_ismark(g_utf8_get_char(p))) {
			if (n == k)
				break;
			n++;
		}
	}
	return p;
}

size_t caption_layout_char_count(const char *text)
{
	if (!text)
		return 0;
	char *clean = g_utf8_make_valid(text, -1);
	size_t n = count_chars(clean, clean + strlen(clean));
	g_free(clean);
	return n;
}

uint32_t caption_layout_hold_ms(size_t n_chars)
{
	uint64_t ms = ((uint64_t)n_chars * 1000 + CAPTION_HOLD_CHARS_PER_S - 1) / CAPTION_HOLD_CHARS_PER_S;
	if (ms < CAPTION_HOLD_MIN_MS)
		ms = CAPTION_HOLD_MIN_MS;
	return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

/* Split clean text into words, cutting words longer than max_chars. */
static void split_pieces(const char *clean, size_t max_chars, GArray *pieces)
{
	const char *p = clean;
	while (*p) {
		while (*p && is_break(g_utf8_get_char(p)))
			p = g_utf8_next_char(p);
		if (!*p)
			break;
		const char *w = p;
		while (*p && !is_break(g_utf8_get_char(p)))
			p = g_utf8_next_char(p);
		size_t n = count_chars(w, p);
		while (n > max_chars) {
			const char *cut = advance_chars(w, p, max_chars);
			struct piece part = { w, cut, max_chars };
			g_array_append_val(pieces, part);
			w = cut;
			n -= max_chars;
		}
		struct piece word = { w, p, n };
		g_array_append_val(pieces, word);
	}
}

int caption_layout_format(const char *text, size_t max_lines, size_t max_chars,
			  struct caption_layout_result *out)
{
	if (!text || !out || max_lines < 1 || max_chars < 2)
		return -EINVAL;
	memset(out, 0, sizeof(*out));

	char *clean = g_utf8_make_valid(text, -1);
	GArray *pieces = g_array_new(FALSE, FALSE, sizeof(struct piece));
	split_pieces(clean, max_chars, pieces);

	/* line_first[i]: index of the first piece of line i; greedy filling.
	 * A piece of max_chars never fits after a space, so the pieces of a long
	 * word each start a line. */
	GArray *line_first = g_array_new(FALSE, FALSE, sizeof(size_t));
	size_t line_n = 0;
	for (size_t i = 0; i < pieces->len; i++) {
		const struct piece *pc = &g_array_index(pieces, struct piece, i);
		if (line_first->len == 0 || line_n + 1 + pc->n_chars > max_chars) {
			g_array_append_val(line_first, i);
			line_n = pc->n_chars;
		} else {
			line_n += 1 + pc->n_chars;
		}
	}

	size_t n_lines = line_first->len;
	bool truncated = n_lines > max_lines;
	if (truncated)
		n_lines = max_lines;

	GString *s = g_string_new(NULL);
	size_t total = 0;
	for (size_t l = 0; l < n_lines; l++) {
		size_t first = g_array_index(line_first, size_t, l);
		size_t last = l + 1 < line_first->len ? g_array_index(line_first, size_t, l + 1) : pieces->len;
		bool ellipsis = truncated && l + 1 == n_lines;
		size_t n = 0;
		for (size_t i = first; i < last; i++)
			n += (i > first) + g_array_index(pieces, struct piece, i).n_chars;
		/* Drop whole words from the end of the last line until "…" fits. */
		while (ellipsis && n + 1 > max_chars && last - first > 1) {
			last--;
			n -= 1 + g_array_index(pieces, struct piece, last).n_chars;
		}
		if (l > 0)
			g_string_append_c(s, '\n');
		for (size_t i = first; i < last; i++) {
			const struct piece *pc = &g_array_index(pieces, struct piece, i);
			const char *end = pc->end;
			if (i > first)
				g_string_append_c(s, ' ');
			if (ellipsis && n + 1 > max_chars) {
				/* a single word fills the line: cut it */
				end = advance_chars(pc->start, pc->end, max_chars - 1);
				n = max_chars - 1;
			}
			g_string_append_len(s, pc->start, end - pc->start);
		}
		if (ellipsis) {
			g_string_append(s, "\u2026");
			n++;
		}
		total += n;
	}

	out->n_lines = n_lines;
	out->n_chars = total;
	out->truncated = truncated;
	out->text = g_string_free(s, FALSE);
	g_array_free(line_first, TRUE);
	g_array_free(pieces, TRUE);
	g_free(clean);
	return 0;
}
