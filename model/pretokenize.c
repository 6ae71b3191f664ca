/* model/pretokenize.c — UTF-8 repair and the GPT-2 / Llama-3 splitters. */
#include "model/pretokenize.h"

#include <errno.h>

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* Bytes a lead byte announces (0: not a lead byte), and the range its first
 * continuation byte must lie in (the rest are always 0x80..0xBF). This is the
 * table of well-formed sequences, Unicode §3.9 table 3-7. */
static int utf8_lead(uint8_t b, uint8_t *lo, uint8_t *hi)
{
	*lo = 0x80;
	*hi = 0xBF;
	if (b < 0x80)
		return 1;
	if (b >= 0xC2 && b <= 0xDF)
		return 2;
	if (b >= 0xE0 && b <= 0xEF) {
		if (b == 0xE0)
			*lo = 0xA0; /* no overlongs */
		else if (b == 0xED)
			*hi = 0x9F; /* no surrogates */
		return 3;
	}
	if (b >= 0xF0 && b <= 0xF4) {
		if (b == 0xF0)
			*lo = 0x90;
		else if (b == 0xF4)
			*hi = 0x8F; /* nothing above U+10FFFF */
		return 4;
	}
	return 0;
}

size_t pretok_utf8_repair(const char *in, size_t len, bool final, GString *out)
{
	const uint8_t *s = (const uint8_t *)in;
	size_t i = 0, run = 0; /* [run, i) is valid and not yet copied */

	if (len == 0)
		return 0; /* in may be NULL */
	while (i < len) {
		uint8_t lo, hi;
		int need = utf8_lead(s[i], &lo, &hi);
		if (need == 1) {
			i++;
			continue;
		}
		/* Count the bytes that still form a prefix of a valid sequence. */
		int have = need ? 1 : 0;
		while (have && have < need && i + (size_t)have < len) {
			uint8_t c = s[i + have];
			if (c < lo || c > hi)
				break;
			lo = 0x80;
			hi = 0xBF;
			have++;
		}
		if (need && have == need) {
			i += (size_t)need;
			continue;
		}
		if (need && i + (size_t)have == len && !final)
			break; /* truncated at the end: may complete in the next chunk */
		g_string_append_len(out, in + run, (gssize)(i - run));
		g_string_append(out, replacement);
		i += have ? (size_t)have : 1; /* one U+FFFD per maximal subpart */
		run = i;
	}
	g_string_append_len(out, in + run, (gssize)(i - run));
	return i;
}

enum {
	CL_L = 1,  /* letter */
	CL_N = 2,  /* number */
	CL_WS = 4, /* White_Space */
};

static uint8_t char_class(gunichar c)
{
	if (c < 0x80) { /* fast path; same answers as below */
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
			return CL_L;
		if (c >= '0' && c <= '9')
			return CL_N;
		return (c == ' ' || (c >= 0x09 && c <= 0x0D)) ? CL_WS : 0;
	}
	switch (g_unichar_type(c)) {
	case G_UNICODE_LOWERCASE_LETTER:
	case G_UNICODE_UPPERCASE_LETTER:
	case G_UNICODE_TITLECASE_LETTER:
	case G_UNICODE_MODIFIER_LETTER:
	case G_UNICODE_OTHER_LETTER:
		return CL_L;
	case G_UNICODE_DECIMAL_NUMBER:
	case G_UNICODE_LETTER_NUMBER:
	case G_UNICODE_OTHER_NUMBER:
		return CL_N;
	default:
		/* GLib's isspace lacks U+0085, which White_Space has. */
		return (c == 0x85 || g_unichar_isspace(c)) ? CL_WS : 0;
	}
}

static bool is_crlf(gunichar c)
{
	return c == '\r' || c == '\n';
}

/* Case folding for the contraction letters, as the HF regex (?i:...) does
 * it: ASCII, plus U+017F LATIN SMALL LETTER LONG S, which folds to 's'. */
static gunichar fold(gunichar c)
{
	if (c >= 'A' && c <= 'Z')
		return c + ('a' - 'A');
	return c == 0x17F ? 's' : c;
}

/* A maximal whitespace run [i, r) with the split rule "\s+(?!\S)|\s+":
 * leave the last space of a run that a non-space follows to that piece. */
static size_t ws_run_end(const uint8_t *cl, size_t n, size_t i)
{
	size_t r = i;
	while (r < n && (cl[r] & CL_WS))
		r++;
	return (r - i >= 2 && r < n) ? r - 1 : r;
}

/* One piece of the Llama-3 pattern starting at i (spec §6.3); returns its end. */
static size_t llama3_piece(const gunichar *cp, const uint8_t *cl, size_t n, size_t i)
{
	gunichar c = cp[i];
	size_t j;

	if (c == '\'' && i + 1 < n) { /* (?i:'s|'t|'re|'ve|'m|'ll|'d) */
		gunichar a = fold(cp[i + 1]);
		if (a == 's' || a == 't' || a == 'm' || a == 'd')
			return i + 2;
		if (i + 2 < n) {
			gunichar b = fold(cp[i + 2]);
			if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
				return i + 3;
		}
	}
	/* [^\r\n\p{L}\p{N}]?\p{L}+ */
	if (!is_crlf(c) && !(cl[i] & CL_N) && ((cl[i] & CL_L) || (i + 1 < n && (cl[i + 1] & CL_L)))) {
		for (j = i + 1; j < n && (cl[j] & CL_L); j++)
			;
		return j;
	}
	if (cl[i] & CL_N) { /* \p{N}{1,3} */
		for (j = i + 1; j < n && j - i < 3 && (cl[j] & CL_N); j++)
			;
		return j;
	}
	/*  ?[^\s\p{L}\p{N}]+[\r\n]* */
	j = (c == ' ') ? i + 1 : i;
	if (j < n && !(cl[j] & (CL_WS | CL_L | CL_N))) {
		while (j < n && !(cl[j] & (CL_WS | CL_L | CL_N)))
			j++;
		while (j < n && is_crlf(cp[j]))
			j++;
		return j;
	}
	if (cl[i] & CL_WS) {
		/* \s*[\r\n]+ : up to the last CR/LF of the run, if it has one */
		size_t last = SIZE_MAX;
		for (j = i; j < n && (cl[j] & CL_WS); j++)
			if (is_crlf(cp[j]))
				last = j;
		if (last != SIZE_MAX)
			return last + 1;
		return ws_run_end(cl, n, i);
	}
	return i + 1;
}

/* Letters, numbers, or "other" runs with an optional leading space. */
static size_t run_with_space(const uint8_t *cl, size_t n, size_t i, bool space, uint8_t want)
{
	size_t j = space ? i + 1 : i;
	if (j >= n)
		return 0;
	bool match = want ? (cl[j] & want) : !(cl[j] & (CL_WS | CL_L | CL_N));
	if (!match)
		return 0;
	while (j < n && (want ? (cl[j] & want) : !(cl[j] & (CL_WS | CL_L | CL_N))))
		j++;
	return j;
}

/* One piece of the GPT-2 pattern starting at i; returns its end. */
static size_t gpt2_piece(const gunichar *cp, const uint8_t *cl, size_t n, size_t i)
{
	gunichar c = cp[i];
	size_t j;

	if (c == '\'' && i + 1 < n) { /* 's|'t|'re|'ve|'m|'ll|'d, case-sensitive */
		gunichar a = cp[i + 1], b = i + 2 < n ? cp[i + 2] : 0;
		if (a == 's' || a == 't' || a == 'm' || a == 'd')
			return i + 2;
		if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
			return i + 3;
	}
	bool space = c == ' ';
	if ((j = run_with_space(cl, n, i, space, CL_L)) || (j = run_with_space(cl, n, i, false, CL_L)))
		return j;
	if ((j = run_with_space(cl, n, i, space, CL_N)) || (j = run_with_space(cl, n, i, false, CL_N)))
		return j;
	if ((j = run_with_space(cl, n, i, space, 0)) || (j = run_with_space(cl, n, i, false, 0)))
		return j;
	if (cl[i] & CL_WS)
		return ws_run_end(cl, n, i);
	return i + 1;
}

int pretok_split(enum pretok_kind kind, const char *text, size_t len, GArray *ends)
{
	/* One code point per byte at most: len bounds every array. */
	gunichar *cp = g_try_new(gunichar, len + 1);
	uint8_t *cl = g_try_new(uint8_t, len + 1);
	size_t *off = g_try_new(size_t, len + 1);
	size_t n = 0;
	int ret = 0;

	if (!cp || !cl || !off) {
		ret = -ENOMEM;
		goto out;
	}
	for (const char *p = text, *end = text + len; p < end; p = g_utf8_next_char(p)) {
		cp[n] = g_utf8_get_char(p);
		cl[n] = char_class(cp[n]);
		off[n] = (size_t)(p - text);
		n++;
	}
	off[n] = len;
	for (size_t i = 0; i < n;) {
		size_t j = kind == PRETOK_LLAMA3 ? llama3_piece(cp, cl, n, i) : gpt2_piece(cp, cl, n, i);
		g_array_append_val(ends, off[j]);
		i = j;
	}
out:
	g_free(cp);
	g_free(cl);
	g_free(off);
	return ret;
}
