/* tests/fuzz/fuzz-tokenizer.c — libFuzzer target for the tokenizer.
 *
 * The first byte picks what the rest is:
 *   'G'  a GGUF file: the vocabulary is built from it (hostile keys); if that
 *        works, a fixed text is encoded and every id decoded.
 *   else text, encoded with the LFM2 test vocabulary
 *        (tests/data/tokenizer/lfm2-test-vocab.gguf, loaded once), checking
 *        that decoding gives the text back (made valid UTF-8, after the BOS
 *        text) and that the streaming decoder gives the same bytes.
 * Built with -fsanitize=fuzzer when meson option fuzz is true, and linked with
 * replay.c in normal builds to run the committed corpus as a test.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "model/gguf.h"
#include "model/pretokenize.h"
#include "model/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(x)                                                                          \
	do {                                                                                \
		if (!(x)) {                                                                 \
			fprintf(stderr, "fuzz-tokenizer: %s:%d: %s\n", __FILE__, __LINE__, #x); \
			abort();                                                            \
		}                                                                           \
	} while (0)

/* Valid UTF-8 (NULs allowed, unlike g_utf8_validate): repair changes nothing. */
static bool valid_utf8(const GString *s)
{
	GString *r = g_string_new(NULL);
	pretok_utf8_repair(s->str, s->len, true, r);
	bool same = g_string_equal(r, s);
	g_string_free(r, TRUE);
	return same;
}

static struct tokenizer *open_vocab(const void *data, size_t size, struct gguf_file **f)
{
	struct tokenizer *tok = NULL;
	char err[256] = "";
	if (gguf_file_open_memory(data, size, f, NULL) < 0)
		return NULL;
	int ret = tokenizer_create_from_gguf(*f, &tok, err, sizeof(err));
	REQUIRE((ret == 0) == (tok != NULL));
	REQUIRE(ret == 0 || err[0]); /* a rejection says why */
	return tok;
}

static void fuzz_vocab(const uint8_t *data, size_t size)
{
	struct gguf_file *f = NULL;
	struct tokenizer *tok = open_vocab(data, size, &f);
	gguf_file_destroy(f); /* the tokenizer must not need it any more */
	if (!tok)
		return;
	static const char text[] = "Hello, world! 123 <|im_start|>\xF0\x9F\xA6\x99 caf\xC3\xA9 \xFF";
	GArray *ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
	GString *out = g_string_new(NULL);
	REQUIRE(tokenizer_encode(tok, text, sizeof(text) - 1, tokenizer_default_flags(tok), ids) == 0);
	for (guint i = 0; i < ids->len; i++)
		REQUIRE((uint32_t)g_array_index(ids, int32_t, i) < tokenizer_vocab_size(tok));
	for (uint32_t id = 0; id < tokenizer_vocab_size(tok) && id < 4096; id++)
		REQUIRE(tokenizer_token_bytes(tok, (int32_t)id, TOKENIZER_DECODE_SPECIAL, out) == 0);
	g_string_free(out, TRUE);
	g_array_free(ids, TRUE);
	tokenizer_destroy(tok);
}

static struct tokenizer *test_vocab(void)
{
	static struct tokenizer *tok;
	static struct gguf_file *f;
	static char *bytes;
	if (!tok) {
		gsize n;
		REQUIRE(g_file_get_contents(CAPTIOND_TOKENIZER_VOCAB, &bytes, &n, NULL));
		tok = open_vocab(bytes, n, &f);
		REQUIRE(tok);
		gguf_file_destroy(f);
		g_free(bytes); /* process-lifetime tokenizer; the file is not needed */
	}
	return tok;
}

static void fuzz_text(const uint8_t *data, size_t size)
{
	struct tokenizer *tok = test_vocab();
	unsigned flags = tokenizer_default_flags(tok);
	GArray *ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
	GString *want = g_string_new(NULL), *dec = g_string_new(NULL), *streamed = g_string_new(NULL);

	REQUIRE(tokenizer_encode(tok, (const char *)data, size, flags, ids) == 0);
	if (flags & TOKENIZER_ADD_BOS)
		REQUIRE(tokenizer_token_bytes(tok, tokenizer_bos(tok), TOKENIZER_DECODE_SPECIAL, want) == 0);
	pretok_utf8_repair((const char *)data, size, true, want);
	REQUIRE(tokenizer_decode(tok, (int32_t *)ids->data, ids->len, TOKENIZER_DECODE_SPECIAL, dec) == 0);
	REQUIRE(g_string_equal(want, dec));

	struct tokenizer_stream *s = tokenizer_stream_create(tok, TOKENIZER_DECODE_SPECIAL);
	for (guint i = 0; i < ids->len; i++) {
		REQUIRE(tokenizer_stream_push(s, g_array_index(ids, int32_t, i), streamed) == 0);
		REQUIRE(valid_utf8(streamed));
	}
	tokenizer_stream_flush(s, streamed);
	tokenizer_stream_destroy(s);
	REQUIRE(g_string_equal(streamed, dec));

	g_string_free(streamed, TRUE);
	g_string_free(dec, TRUE);
	g_string_free(want, TRUE);
	g_array_free(ids, TRUE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] == 'G')
		fuzz_vocab(data + 1, size - 1);
	else
		fuzz_text(data + 1, size - 1);
	return 0;
}
