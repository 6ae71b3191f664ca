/* model/tokenizer.h — byte-level BPE tokenizer from a GGUF's tokenizer.ggml.*
 * keys (spec §1.5, §6): LFM2 ("lfm2": Llama-3 pre-tokenizer, ignore_merges)
 * and GPT-2 ("gpt-2").
 *
 * Encoding (spec §6.2): the input bytes are first made valid UTF-8 the way
 * Python's bytes.decode('utf-8', errors='replace') does (each maximal invalid
 * subpart becomes U+FFFD), because that is the text the HF reference sees.
 * Then added tokens are cut out of the text: CONTROL tokens (only with
 * TOKENIZER_PARSE_SPECIAL), then USER_DEFINED tokens (always) in what is
 * left, each pass matching leftmost-longest as HF's added vocabulary does
 * (llama.cpp instead splits by each token in turn, longest first; the two
 * agree unless added tokens overlap). The rest is pre-tokenized and BPE'd
 * (merges by rank, ties leftmost). A byte with no single-byte token is
 * dropped, as HF's BPE without an unk token does.
 *
 * Decoding (spec §6.5): NORMAL tokens through the inverse GPT-2 byte map,
 * USER_DEFINED verbatim, CONTROL (and UNKNOWN) only with
 * TOKENIZER_DECODE_SPECIAL, UNUSED never. No clean-up of spaces.
 *
 * Ownership: the tokenizer copies what it needs; the gguf_file may be closed
 * after create. Threads: after create every function may be called from any
 * thread at once (the piece cache is locked); a tokenizer_stream belongs to
 * one thread.
 */
#ifndef CAPTIOND_MODEL_TOKENIZER_H
#define CAPTIOND_MODEL_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

struct gguf_file;
struct tokenizer;
struct tokenizer_stream;

/* tokenizer.ggml.token_type values (llama.cpp's llama_token_type). */
enum tokenizer_token_type {
	TOKENIZER_TOKEN_UNDEFINED = 0,
	TOKENIZER_TOKEN_NORMAL = 1,
	TOKENIZER_TOKEN_UNKNOWN = 2,
	TOKENIZER_TOKEN_CONTROL = 3,
	TOKENIZER_TOKEN_USER_DEFINED = 4,
	TOKENIZER_TOKEN_UNUSED = 5,
	TOKENIZER_TOKEN_BYTE = 6,
};

enum tokenizer_flags {
	TOKENIZER_PARSE_SPECIAL = 1 << 0,  /* encode: match CONTROL token texts */
	TOKENIZER_ADD_BOS = 1 << 1,        /* encode: prepend BOS */
	TOKENIZER_DECODE_SPECIAL = 1 << 2, /* decode: print CONTROL token texts */
};

/* Build from f's tokenizer.ggml.* keys. -ENOTSUP: a model other than "gpt2"
 * or an unknown/missing pre-tokenizer; -EBADMSG: inconsistent keys (lengths,
 * ids out of range); -ENOMEM. errbuf (may be NULL) gets a one-line reason. */
int tokenizer_create_from_gguf(const struct gguf_file *f, struct tokenizer **out,
			       char *errbuf, size_t errbuf_size);
void tokenizer_destroy(struct tokenizer *tok);

uint32_t tokenizer_vocab_size(const struct tokenizer *tok);
int32_t tokenizer_bos(const struct tokenizer *tok); /* -1 when absent */
int32_t tokenizer_eos(const struct tokenizer *tok); /* -1 when absent */
/* What a prompt should be encoded with: PARSE_SPECIAL, plus ADD_BOS when the
 * GGUF says tokenizer.ggml.add_bos_token (spec §5.5). */
unsigned tokenizer_default_flags(const struct tokenizer *tok);
/* Type and text (as stored, GPT-2 byte-level form for NORMAL tokens) of id;
 * -EINVAL when id is out of range. */
int tokenizer_token(const struct tokenizer *tok, int32_t id, enum tokenizer_token_type *type,
		    const char **text, size_t *len);
/* Id of a token whose stored text is exactly text[0, len), or -1. */
int32_t tokenizer_find(const struct tokenizer *tok, const char *text, size_t len);

/* Append the ids of text[0, len) (any bytes) to ids (a GArray of int32_t).
 * flags: PARSE_SPECIAL, ADD_BOS. 0 or -ENOMEM. */
int tokenizer_encode(struct tokenizer *tok, const char *text, size_t len, unsigned flags, GArray *ids);

/* Append the raw bytes of one token to out (may be part of a UTF-8
 * character). flags: DECODE_SPECIAL. -EINVAL for an id out of range. */
int tokenizer_token_bytes(const struct tokenizer *tok, int32_t id, unsigned flags, GString *out);
/* Append the text of ids to out, made valid UTF-8 (invalid bytes → U+FFFD as
 * in pretok_utf8_repair). -EINVAL for an id out of range (nothing appended). */
int tokenizer_decode(const struct tokenizer *tok, const int32_t *ids, size_t n, unsigned flags, GString *out);

/* Streaming decode for generated tokens: push ids one at a time; out gets
 * only complete UTF-8 (a character split across tokens is held back until its
 * last byte arrives; bytes that cannot start or continue a character become
 * U+FFFD at once); flush ends the stream, turning a held-back incomplete
 * sequence into U+FFFD. The tokenizer must outlive the stream. */
struct tokenizer_stream *tokenizer_stream_create(const struct tokenizer *tok, unsigned flags);
void tokenizer_stream_destroy(struct tokenizer_stream *s);
int tokenizer_stream_push(struct tokenizer_stream *s, int32_t id, GString *out);
void tokenizer_stream_flush(struct tokenizer_stream *s, GString *out);

#endif
