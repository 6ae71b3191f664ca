/* tests/test-tokenizer.c — the BPE tokenizer against reference vectors.
 *
 *   test-tokenizer gpt2   llama.cpp's GPT-2 vectors (shared data; skips when absent)
 *   test-tokenizer lfm2   HF `tokenizers` goldens for the LFM2 configuration
 *                         (tests/data/tokenizer, made by tests/reference/
 *                         make-tokenizer-goldens.py), special tokens, UTF-8
 *                         repair, streaming decode, bad vocabularies
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <glib.h>

#include "model/gguf.h"
#include "model/pretokenize.h"
#include "model/tokenizer.h"
#include "tests/check.h"

#define SEP "\n__ggml_vocab_test__\n"

/* Inputs split as llama.cpp's test-tokenizer-0 does: on SEP, the text after
 * the last SEP (empty in these files) not being a test. */
static GPtrArray *read_inputs(const char *path)
{
	gchar *raw;
	gsize len;
	if (!g_file_get_contents(path, &raw, &len, NULL))
		return NULL;
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	size_t pos = 0, sl = strlen(SEP);
	while (pos < len) {
		const char *next = memmem(raw + pos, len - pos, SEP, sl);
		size_t end = next ? (size_t)(next - raw) : len;
		g_ptr_array_add(out, g_bytes_new(raw + pos, end - pos));
		if (!next)
			break;
		pos = end + sl;
	}
	g_free(raw);
	return out;
}

static gchar **read_lines(const char *path, guint *n)
{
	gchar *raw;
	if (!g_file_get_contents(path, &raw, NULL, NULL))
		return NULL;
	size_t l = strlen(raw);
	if (l && raw[l - 1] == '\n')
		raw[l - 1] = '\0';
	gchar **lines = g_strsplit(raw, "\n", -1);
	g_free(raw);
	*n = g_strv_length(lines);
	return lines;
}

static GArray *parse_ids(const char *line)
{
	GArray *ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
	gchar **f = g_strsplit(line, " ", -1);
	for (gchar **p = f; *p; p++) {
		if (!**p)
			continue;
		int32_t v = (int32_t)g_ascii_strtoll(*p, NULL, 10);
		g_array_append_val(ids, v);
	}
	g_strfreev(f);
	return ids;
}

static GString *ids_str(const GArray *ids)
{
	GString *s = g_string_new(NULL);
	for (guint i = 0; i < ids->len; i++)
		g_string_append_printf(s, " %d", g_array_index(ids, int32_t, i));
	return s;
}

static struct tokenizer *load(const char *path)
{
	struct gguf_file *f;
	struct tokenizer *tok = NULL;
	char err[256] = "";
	int ret = gguf_file_open(path, &f, NULL);
	CHECKF(ret == 0, "%s: %s", path, g_strerror(-ret));
	if (ret)
		return NULL;
	ret = tokenizer_create_from_gguf(f, &tok, err, sizeof(err));
	CHECKF(ret == 0, "%s: %s", path, err);
	gguf_file_destroy(f);
	return tok;
}

/* The GPT-2 byte-to-unicode map, written from its definition (spec §6.4):
 * printable Latin-1 bytes map to themselves, the 68 others in byte order to
 * U+0100 onwards. */
static gunichar byte_level_cp(uint8_t b)
{
	gunichar next = 0x100;
	for (unsigned x = 0; x < 256; x++) {
		bool printable = (x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE;
		if (x == b)
			return printable ? x : next;
		if (!printable)
			next++;
	}
	return 0;
}

/* Encode every input with flags and compare with the expected ids. */
static void run_vectors(struct tokenizer *tok, const char *inp, const char *outp, unsigned flags, bool roundtrip)
{
	GPtrArray *texts = read_inputs(inp);
	guint n_lines = 0;
	gchar **lines = read_lines(outp, &n_lines);
	CHECKF(texts && lines, "cannot read %s / %s", inp, outp);
	if (!texts || !lines)
		goto out;
	CHECKF(texts->len == n_lines, "%u inputs, %u outputs", texts->len, n_lines);
	for (guint i = 0; i < texts->len && i < n_lines; i++) {
		gsize len;
		const char *text = g_bytes_get_data(texts->pdata[i], &len);
		GArray *want = parse_ids(lines[i]), *got = g_array_new(FALSE, FALSE, sizeof(int32_t));
		CHECK(tokenizer_encode(tok, text, len, flags, got) == 0);
		GString *g = ids_str(got), *w = ids_str(want);
		CHECKF(!strcmp(g->str, w->str), "test %u '%.*s':\n  want%s\n  got %s", i, (int)len, text, w->str, g->str);
		if (roundtrip) {
			/* decode(encode(x)) with special texts is x made valid, plus BOS */
			GString *dec = g_string_new(NULL), *want_text = g_string_new(NULL);
			if ((flags & TOKENIZER_ADD_BOS) && tokenizer_bos(tok) >= 0)
				tokenizer_token_bytes(tok, tokenizer_bos(tok), TOKENIZER_DECODE_SPECIAL, want_text);
			pretok_utf8_repair(text, len, true, want_text);
			CHECK(tokenizer_decode(tok, (int32_t *)got->data, got->len, TOKENIZER_DECODE_SPECIAL, dec) == 0);
			CHECKF(!strcmp(dec->str, want_text->str), "test %u: decoded '%s'", i, dec->str);
			g_string_free(dec, TRUE);
			g_string_free(want_text, TRUE);
		}
		g_string_free(g, TRUE);
		g_string_free(w, TRUE);
		g_array_free(want, TRUE);
		g_array_free(got, TRUE);
	}
out:
	if (texts)
		g_ptr_array_free(texts, TRUE);
	g_strfreev(lines);
}

/* Our pre-tokenizer against HF's pieces (byte-level form, space-separated). */
static void run_pieces(struct tokenizer *tok, const char *inp, const char *piecesp)
{
	GPtrArray *texts = read_inputs(inp);
	guint n_lines = 0;
	gchar **lines = read_lines(piecesp, &n_lines);
	CHECK(texts && lines && texts->len == n_lines);
	for (guint i = 0; texts && lines && i < texts->len && i < n_lines; i++) {
		gsize len;
		const char *text = g_bytes_get_data(texts->pdata[i], &len);
		GString *clean = g_string_new(NULL), *got = g_string_new(NULL);
		GArray *ends = g_array_new(FALSE, FALSE, sizeof(size_t));
		pretok_utf8_repair(text, len, true, clean);
		CHECK(pretok_split(PRETOK_LLAMA3, clean->str, clean->len, ends) == 0);
		size_t start = 0;
		for (guint k = 0; k < ends->len; k++) {
			size_t end = g_array_index(ends, size_t, k);
			if (k)
				g_string_append_c(got, ' ');
			/* the byte-level form: the same map the tokenizer uses */
			for (size_t b = start; b < end; b++) {
				char one[6];
				gunichar cp = byte_level_cp((uint8_t)clean->str[b]);
				g_string_append_len(got, one, g_unichar_to_utf8(cp, one));
			}
			start = end;
		}
		CHECKF(!strcmp(got->str, lines[i]), "pieces of test %u:\n  want %s\n  got  %s", i, lines[i], got->str);
		g_array_free(ends, TRUE);
		g_string_free(clean, TRUE);
		g_string_free(got, TRUE);
	}
	if (texts)
		g_ptr_array_free(texts, TRUE);
	g_strfreev(lines);
}

/* Unicode §3.9, "U+FFFD Substitution of Maximal Subparts", table 3-8. */
static void test_utf8_repair(void)
{
	static const char in[] = "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64";
	GString *out = g_string_new(NULL);
	size_t used = pretok_utf8_repair(in, sizeof(in) - 1, true, out);
	CHECK(used == sizeof(in) - 1);
	CHECKF(!strcmp(out->str, "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD\xEF\xBF\xBD" "d"),
	       "%s", out->str);
	/* not final: a truncated valid prefix at the end stays unconsumed */
	g_string_truncate(out, 0);
	CHECK(pretok_utf8_repair("ab\xF0\x9F\xA6", 5, false, out) == 2 && !strcmp(out->str, "ab"));
	g_string_free(out, TRUE);
}

static int32_t byte_token(struct tokenizer *tok, uint8_t b)
{
	GString *s = g_string_new(NULL);
	g_string_append_unichar(s, byte_level_cp(b));
	int32_t id = tokenizer_find(tok, s->str, s->len);
	g_string_free(s, TRUE);
	return id;
}

static void test_stream(struct tokenizer *tok)
{
	static const uint8_t llama[] = { 0xF0, 0x9F, 0xA6, 0x99 }; /* U+1F999 */
	struct tokenizer_stream *s = tokenizer_stream_create(tok, 0);
	GString *out = g_string_new(NULL);

	/* a 4-byte emoji, one byte token at a time: nothing until the last */
	for (int i = 0; i < 4; i++) {
		int32_t id = byte_token(tok, llama[i]);
		CHECK(id >= 0);
		CHECK(tokenizer_stream_push(s, id, out) == 0);
		CHECKF(out->len == (i < 3 ? 0u : 4u), "after byte %d: %zu bytes out", i, out->len);
	}
	CHECK(!memcmp(out->str, llama, 4));

	/* the emoji as the tokenizer splits it, then text: the same bytes back */
	GArray *ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
	const char *text = "a \xF0\x9F\xA6\x99\xF0\x9F\x98\x81 caf\xC3\xA9";
	CHECK(tokenizer_encode(tok, text, strlen(text), 0, ids) == 0);
	g_string_truncate(out, 0);
	for (guint i = 0; i < ids->len; i++) {
		CHECK(tokenizer_stream_push(s, g_array_index(ids, int32_t, i), out) == 0);
		CHECK(g_utf8_validate(out->str, (gssize)out->len, NULL));
	}
	tokenizer_stream_flush(s, out);
	CHECKF(!strcmp(out->str, text), "%s", out->str);

	/* invalid bytes: 0xFF at once; F0 9F then 'a': one U+FFFD then 'a';
	 * a truncated E2 82 at the end: one U+FFFD on flush */
	g_string_truncate(out, 0);
	CHECK(tokenizer_stream_push(s, byte_token(tok, 0xFF), out) == 0);
	CHECK(!strcmp(out->str, "\xEF\xBF\xBD"));
	CHECK(tokenizer_stream_push(s, byte_token(tok, 0xF0), out) == 0);
	CHECK(tokenizer_stream_push(s, byte_token(tok, 0x9F), out) == 0);
	CHECK(!strcmp(out->str, "\xEF\xBF\xBD"));
	CHECK(tokenizer_stream_push(s, byte_token(tok, 'a'), out) == 0);
	CHECK(!strcmp(out->str, "\xEF\xBF\xBD\xEF\xBF\xBD" "a"));
	CHECK(tokenizer_stream_push(s, byte_token(tok, 0xE2), out) == 0);
	CHECK(tokenizer_stream_push(s, byte_token(tok, 0x82), out) == 0);
	tokenizer_stream_flush(s, out);
	CHECKF(!strcmp(out->str, "\xEF\xBF\xBD\xEF\xBF\xBD" "a\xEF\xBF\xBD"), "%s", out->str);
	CHECK(tokenizer_stream_push(s, -1, out) == -EINVAL);
	CHECK(tokenizer_stream_push(s, (int32_t)tokenizer_vocab_size(tok), out) == -EINVAL);

	g_array_free(ids, TRUE);
	g_string_free(out, TRUE);
	tokenizer_stream_destroy(s);
}

static bool contains(const GArray *ids, int32_t id)
{
	for (guint i = 0; i < ids->len; i++)
		if (g_array_index(ids, int32_t, i) == id)
			return true;
	return false;
}

/* Ids from spec §5.3. */
static void test_special(struct tokenizer *tok)
{
	GArray *ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
	const char *t = "<|im_start|>user\n<|image_start|><image><|img_row_2_col_1|><|image_end|>hi<|im_end|>";

	CHECK(tokenizer_bos(tok) == 1 && tokenizer_eos(tok) == 7);
	CHECK(tokenizer_default_flags(tok) == (TOKENIZER_PARSE_SPECIAL | TOKENIZER_ADD_BOS));
	CHECK(tokenizer_encode(tok, t, strlen(t), TOKENIZER_PARSE_SPECIAL, ids) == 0);
	CHECK(ids->len >= 7);
	if (ids->len >= 7) {
		int32_t *v = (int32_t *)ids->data;
		CHECK(v[0] == 6 && v[ids->len - 1] == 7);
		CHECK(contains(ids, 498) && contains(ids, 396) && contains(ids, 407) && contains(ids, 499));
	}
	/* without parse_special the same texts are plain text */
	g_array_set_size(ids, 0);
	CHECK(tokenizer_encode(tok, t, strlen(t), 0, ids) == 0);
	for (int32_t id = 0; id <= 500; id++)
		CHECKF(!contains(ids, id), "control id %d matched without parse_special", id);
	/* USER_DEFINED tokens are matched either way */
	g_array_set_size(ids, 0);
	int32_t cd = tokenizer_find(tok, "captiond", 8);
	CHECK(cd >= 0);
	CHECK(tokenizer_encode(tok, "xcaptiondx", 10, 0, ids) == 0);
	CHECK(contains(ids, cd));
	/* decode: CONTROL only when asked, USER_DEFINED always */
	int32_t v[] = { 1, 6, cd, 7 };
	GString *out = g_string_new(NULL);
	CHECK(tokenizer_decode(tok, v, 4, 0, out) == 0 && !strcmp(out->str, "captiond"));
	g_string_truncate(out, 0);
	CHECK(tokenizer_decode(tok, v, 4, TOKENIZER_DECODE_SPECIAL, out) == 0);
	CHECKF(!strcmp(out->str, "<|startoftext|><|im_start|>captiond<|im_end|>"), "%s", out->str);
	int32_t bad[] = { 1, -3 };
	g_string_truncate(out, 0);
	CHECK(tokenizer_decode(tok, bad, 2, 0, out) == -EINVAL && out->len == 0);
	g_string_free(out, TRUE);
	g_array_free(ids, TRUE);
}

/* ---- hand-made vocabularies: the errors create must give ---- */

static void put_str(GByteArray *b, const char *s)
{
	uint64_t n = strlen(s);
	g_byte_array_append(b, (const guint8 *)&n, 8);
	g_byte_array_append(b, (const guint8 *)s, (guint)n);
}

static void put_kv_str(GByteArray *b, const char *k, const char *v)
{
	uint32_t t = GGUF_TYPE_STRING;
	put_str(b, k);
	g_byte_array_append(b, (const guint8 *)&t, 4);
	put_str(b, v);
}

static void put_kv_strs(GByteArray *b, const char *k, const char *const *v, uint64_t n)
{
	uint32_t t = GGUF_TYPE_ARRAY, et = GGUF_TYPE_STRING;
	put_str(b, k);
	g_byte_array_append(b, (const guint8 *)&t, 4);
	g_byte_array_append(b, (const guint8 *)&et, 4);
	g_byte_array_append(b, (const guint8 *)&n, 8);
	for (uint64_t i = 0; i < n; i++)
		put_str(b, v[i]);
}

static void put_kv_i32s(GByteArray *b, const char *k, const int32_t *v, uint64_t n)
{
	uint32_t t = GGUF_TYPE_ARRAY, et = GGUF_TYPE_INT32;
	put_str(b, k);
	g_byte_array_append(b, (const guint8 *)&t, 4);
	g_byte_array_append(b, (const guint8 *)&et, 4);
	g_byte_array_append(b, (const guint8 *)&n, 8);
	g_byte_array_append(b, (const guint8 *)v, (guint)(4 * n));
}

static int create_from(const char *model, const char *pre, uint64_t n_types, char *err, size_t es)
{
	static const char *const toks[] = { "a", "b", "ab" };
	static const int32_t types[] = { 1, 1, 1, 1 };
	GByteArray *b = g_byte_array_new();
	uint32_t v = 3;
	uint64_t nt = 0, nkv = (model ? 1 : 0) + (pre ? 1 : 0) + 2 + (n_types ? 1 : 0);
	g_byte_array_append(b, (const guint8 *)"GGUF", 4);
	g_byte_array_append(b, (const guint8 *)&v, 4);
	g_byte_array_append(b, (const guint8 *)&nt, 8);
	g_byte_array_append(b, (const guint8 *)&nkv, 8);
	put_kv_str(b, "general.architecture", "lfm2");
	if (model)
		put_kv_str(b, "tokenizer.ggml.model", model);
	if (pre)
		put_kv_str(b, "tokenizer.ggml.pre", pre);
	put_kv_strs(b, "tokenizer.ggml.tokens", toks, 3);
	if (n_types)
		put_kv_i32s(b, "tokenizer.ggml.token_type", types, n_types);
	while (b->len % 32)
		g_byte_array_append(b, (const guint8 *)"", 1);

	struct gguf_file *f;
	struct tokenizer *tok = NULL;
	int ret = gguf_file_open_memory(b->data, b->len, &f, NULL);
	CHECKF(ret == 0, "hand-made GGUF rejected: %d", ret);
	if (ret == 0) {
		ret = tokenizer_create_from_gguf(f, &tok, err, es);
		CHECK((ret == 0) == (tok != NULL));
		tokenizer_destroy(tok);
		gguf_file_destroy(f);
	}
	g_byte_array_free(b, TRUE);
	return ret;
}

static void test_bad_vocab(void)
{
	char err[256] = "";
	CHECK(create_from("gpt2", "gpt-2", 3, err, sizeof(err)) == 0);
	CHECK(create_from("gpt2", "lfm2", 0, err, sizeof(err)) == 0);
	CHECK(create_from("gpt2", "qwen2", 3, err, sizeof(err)) == -ENOTSUP);
	CHECKF(strstr(err, "qwen2") != NULL, "%s", err);
	CHECK(create_from("gpt2", NULL, 3, err, sizeof(err)) == -ENOTSUP);
	CHECK(create_from("llama", "lfm2", 3, err, sizeof(err)) == -ENOTSUP);
	CHECK(create_from(NULL, "lfm2", 3, err, sizeof(err)) == -ENOTSUP);
	CHECK(create_from("gpt2", "lfm2", 4, err, sizeof(err)) == -EBADMSG);
}

static int main_gpt2(const char *shared)
{
	if (!shared || !*shared)
		check_skip("CAPTIOND_SHARED_DIR is not set");
	gchar *vocab = g_build_filename(shared, "data", "tokenizer", "ggml-vocab-gpt-2.gguf", NULL);
	if (!g_file_test(vocab, G_FILE_TEST_EXISTS)) {
		fprintf(stderr, "SKIP: %s is absent (the shared test data)\n", vocab);
		g_free(vocab);
		exit(77);
	}
	gchar *inp = g_strconcat(vocab, ".inp", NULL), *outp = g_strconcat(vocab, ".out", NULL);
	struct tokenizer *tok = load(vocab);
	if (tok) {
		/* llama.cpp's test-tokenizer-0: add_special = false, parse_special = false */
		run_vectors(tok, inp, outp, 0, false);
		test_stream(tok);
	}
	tokenizer_destroy(tok);
	g_free(inp);
	g_free(outp);
	g_free(vocab);
	return check_report();
}

static int main_lfm2(const char *src)
{
	gchar *dir = g_build_filename(src ? src : ".", "tests", "data", "tokenizer", NULL);
	gchar *vocab = g_build_filename(dir, "lfm2-test-vocab.gguf", NULL);
	gchar *inp = g_build_filename(dir, "lfm2-test.inp", NULL);
	gchar *outp = g_build_filename(dir, "lfm2-test.out", NULL);
	gchar *pieces = g_build_filename(dir, "lfm2-test.pieces", NULL);

	test_utf8_repair();
	test_bad_vocab();
	struct tokenizer *tok = load(vocab);
	if (tok) {
		run_pieces(tok, inp, pieces);
		/* the goldens were made with add_special_tokens=True: BOS + specials */
		run_vectors(tok, inp, outp, tokenizer_default_flags(tok), true);
		/* a second pass goes through the piece cache */
		run_vectors(tok, inp, outp, tokenizer_default_flags(tok), false);
		test_special(tok);
		test_stream(tok);
	}
	tokenizer_destroy(tok);
	g_free(dir);
	g_free(vocab);
	g_free(inp);
	g_free(outp);
	g_free(pieces);
	return check_report();
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "gpt2"))
		return main_gpt2(g_getenv("CAPTIOND_SHARED_DIR"));
	if (argc == 2 && !strcmp(argv[1], "lfm2"))
		return main_lfm2(g_getenv("CAPTIOND_SOURCE_ROOT"));
	fprintf(stderr, "usage: %s gpt2|lfm2\n", argv[0]);
	return 2;
}
