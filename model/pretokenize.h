/* model/pretokenize.h — the text steps before BPE: UTF-8 repair and the
 * pre-tokenizer splitters (spec §6.2–6.3).
 *
 * Character classes come from GLib (g_unichar_type): L = Lu Ll Lt Lm Lo,
 * N = Nd Nl No. Whitespace is Unicode White_Space, which is what both
 * references use (Oniguruma's \s in HF tokenizers, llama.cpp's table):
 * g_unichar_isspace() plus U+000B and U+0085, which GLib leaves out.
 * Differences in Unicode version between GLib and the references only matter
 * for code points assigned in the newest versions.
 *
 * Stateless functions; any thread.
 */
#ifndef CAPTIOND_MODEL_PRETOKENIZE_H
#define CAPTIOND_MODEL_PRETOKENIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

enum pretok_kind {
	PRETOK_GPT2,   /* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
	PRETOK_LLAMA3, /* the Llama-3 pattern of spec §6.3 ("lfm2", "llama-bpe") */
};

/* Append in[0, len) to out as valid UTF-8, replacing each maximal invalid
 * subpart (Unicode §3.9, "U+FFFD substitution of maximal subparts") by U+FFFD:
 * the result is byte-identical to Python's bytes.decode('utf-8',
 * errors='replace') re-encoded, which is the text the HF tokenizer sees.
 * When final is false, a truncated but so-far-valid sequence at the very end
 * is left unconsumed (a streaming caller keeps it for the next chunk).
 * Returns the number of input bytes consumed. */
size_t pretok_utf8_repair(const char *in, size_t len, bool final, GString *out);

/* Split valid UTF-8 text[0, len) into pieces by the pattern of kind. Appends
 * the end byte offset (size_t) of each piece, in order, to ends; the pieces
 * cover the text exactly. -ENOMEM on allocation failure. */
int pretok_split(enum pretok_kind kind, const char *text, size_t len, GArray *ends);

#endif
