/* pipeline/caption_layout.h — how a caption is broken into lines for the
 * on-screen overlay, and how long it must stay on screen to be read.
 *
 * Pure C on GLib's UTF-8 helpers (no Pango, no GStreamer), so the rules are
 * unit-tested without a display.
 *
 * A "character" is what a reader sees as one: a Unicode character together
 * with the combining marks that follow it (U+0301 after "e" is one character
 * with it). Multibyte UTF-8 sequences count once. Lines are never broken
 * inside such a character.
 *
 * Layout rules (subtitle practice: at most two lines of at most 42 characters):
 *  - runs of white space and control characters become one space; the text
 *    is trimmed; bytes that are not UTF-8 become U+FFFD;
 *  - words are placed greedily, a line breaks at a space;
 *  - a word longer than a line starts a new line and is cut into pieces of
 *    max_chars characters (there is no hyphenation to do better);
 *  - when the text needs more than max_lines lines, the last line ends with
 *    "…" (U+2026, one character): whole words are removed from its end until
 *    the ellipsis fits, or a single word is cut.
 *
 * Threads: every function is reentrant.
 */
#ifndef CAPTIOND_PIPELINE_CAPTION_LAYOUT_H
#define CAPTIOND_PIPELINE_CAPTION_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAPTION_LAYOUT_MAX_LINES 2
#define CAPTION_LAYOUT_MAX_CHARS 42

struct caption_layout_result {
	char *text;        /* lines joined by '\n', no trailing newline; g_free it */
	size_t n_lines;    /* 0 for an empty caption */
	size_t n_chars;    /* characters shown, ellipsis included, newlines excluded */
	bool truncated;    /* the ellipsis was added */
};

/* Lay text out in at most max_lines lines of at most max_chars characters
 * (both >= 1; max_chars >= 2 when max_lines would truncate). Returns 0, or
 * -EINVAL for bad limits or text NULL. */
int caption_layout_format(const char *text, size_t max_lines, size_t max_chars,
			  struct caption_layout_result *out);

/* Characters in a UTF-8 string as counted above (after invalid bytes are
 * replaced by U+FFFD). */
size_t caption_layout_char_count(const char *text);

/* How long a caption of n_chars characters stays on screen before the next
 * may replace it: n_chars / 17 characters per second, at least 1500 ms. */
#define CAPTION_HOLD_CHARS_PER_S 17
#define CAPTION_HOLD_MIN_MS 1500
uint32_t caption_layout_hold_ms(size_t n_chars);

#endif
