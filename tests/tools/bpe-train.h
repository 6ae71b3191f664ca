/* tests/tools/bpe-train.h — a small deterministic byte-level BPE trainer for
 * the generated test models (spec §6).
 *
 * Text is cut into pieces much as the runtime pre-tokenizer does (a word
 * keeps its leading space or punctuation mark, digits go in runs of up to
 * three, punctuation runs and whitespace runs are pieces of their own); each
 * piece's UTF-8 bytes become GPT-2 byte-to-unicode symbols (§6.4); the most
 * frequent adjacent pair (ties: the pair of lowest token ids) is merged,
 * never across pieces, until the vocabulary is full or no pair is left.
 * Every merge's two sides and its result are vocabulary entries.
 */
#ifndef CAPTIOND_TESTS_BPE_TRAIN_H
#define CAPTIOND_TESTS_BPE_TRAIN_H

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

/* The embedded training text (tests/tools/corpus.c). */
const char *const *bpe_corpus_lines(size_t *n);

/* The GPT-2 byte-to-unicode code point of byte b (§6.4). */
gunichar bpe_byte_to_unicode(uint8_t b);

/* Trains on n lines. tokens gets the 256 byte tokens (byte order) then the
 * merged tokens, at most max_tokens in all (>= 256); merges gets "A B"
 * strings in rank order. Both arrays are new and own their strings
 * (g_ptr_array_unref frees them). Returns 0 or -EINVAL. */
int bpe_train(const char *const *lines, size_t n, uint32_t max_tokens, GPtrArray **tokens,
	      GPtrArray **merges);

#endif
