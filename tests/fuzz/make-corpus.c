/* tests/fuzz/make-corpus.c — write the fuzz seed corpus: small valid GGUF
 * files (every value type, v2, alignment 64, micro LFM2 LM and mmproj files)
 * and near-valid ones (a missing tensor, a wrong shape, a wrong type, a
 * truncated file). Usage: make-gguf-corpus DIR (the committed corpus is
 * tests/fuzz/corpus-gguf/). */
#include "model/gguf.h"
#include "model/quant.h"
#include "tests/gguf-bytes.h"

#include <stdio.h>

static int save(const char *dir, const char *name, const GByteArray *b, size_t len)
{
	char *path = g_build_filename(dir, name, NULL);
	GError *error = NULL;
	gboolean ok = g_file_set_contents(path, (const char *)b->data, (gssize)len, &error);
	if (!ok) {
		fprintf(stderr, "make-gguf-corpus: %s\n", error->message);
		g_error_free(error);
	}
	g_free(path);
	return ok ? 0 : 1;
}

static int save_gb(const char *dir, const char *name, struct gguf_builder *gb, uint32_t alignment)
{
	GByteArray *b = gb_finish(gb, alignment);
	int r = save(dir, name, b, b->len);
	g_byte_array_unref(b);
	gb_free(gb);
	return r;
}

static const struct model_gen_shape micro = { "micro", "CA", 32, 2, 1, 32, 32, 4096,
					      32, 32, 1, 2, 32, 2, 4 };

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make-gguf-corpus DIR\n");
		return 2;
	}
	const char *dir = argv[1];
	int r = 0;
	for (uint32_t v = 2; v <= 3; v++) {
		GByteArray *b = gw_typed_example(v);
		r |= save(dir, v == 2 ? "typed-v2.gguf" : "typed-v3.gguf", b, b->len);
		if (v == 3)
			r |= save(dir, "typed-truncated.gguf", b, b->len - 100);
		g_byte_array_unref(b);
	}
	struct gguf_builder *gb = gb_new(3);
	const uint64_t ne[2] = { 5, 3 };
	gb_tensor(gb, "a", TENSOR_F32, 2, ne, true);
	gb_tensor(gb, "b", TENSOR_F16, 1, ne, true);
	r |= save_gb(dir, "align64.gguf", gb, 64);

	r |= save_gb(dir, "lfm2-micro-q4_0.gguf", gb_lfm2(&micro, true, TENSOR_Q4_0), 32);
	gb = gb_lfm2(&micro, true, TENSOR_Q8_0);
	gb_tensor_remove(gb, "blk.1.attn_k.weight");
	r |= save_gb(dir, "lfm2-missing-tensor.gguf", gb, 32);
	gb = gb_lfm2(&micro, true, TENSOR_Q4_0);
	gb_tensor_reshape(gb, "blk.0.ffn_down.weight", TENSOR_Q4_0, 2, (const uint64_t[]){ 64, 32 });
	r |= save_gb(dir, "lfm2-bad-shape.gguf", gb, 32);
	gb = gb_lfm2(&micro, true, TENSOR_Q4_0);
	gb_kv_remove(gb, "lfm2.attention.head_count_kv");
	gb_kv_u32(gb, "lfm2.attention.head_count_kv", 1);
	r |= save_gb(dir, "lfm2-scalar-kv.gguf", gb, 32);

	r |= save_gb(dir, "clip-micro-q8_0.gguf", gb_lfm2(&micro, false, TENSOR_Q8_0), 32);
	gb = gb_lfm2(&micro, false, TENSOR_Q4_0);
	gb_tensor_remove(gb, "mm.input_norm.weight");
	gb_tensor_remove(gb, "mm.input_norm.bias");
	r |= save_gb(dir, "clip-micro-nonorm-q4_0.gguf", gb, 32);
	gb = gb_lfm2(&micro, false, TENSOR_Q8_0);
	gb_tensor_reshape(gb, "mm.1.bias", TENSOR_F16, 1, (const uint64_t[]){ 32 });
	r |= save_gb(dir, "clip-bad-type.gguf", gb, 32);

	/* Strings that output code must escape: quote, newline, invalid UTF-8. */
	gb = gb_new(3);
	gb_kv_str(gb, "general.architecture", "we\"ird\n\xff");
	gb_kv_str(gb, "general.name", "tab\there\x01");
	gb_kv_str(gb, "tokenizer.ggml.model", "\xc3\xa9\\");
	r |= save_gb(dir, "weird-strings.gguf", gb, 32);

	GByteArray *b = g_byte_array_new();
	gw_header(b, 3, 0, 1);
	gw_str(b, "general.alignment");
	gw_u32(b, GGUF_TYPE_UINT32);
	gw_u32(b, 48);
	r |= save(dir, "bad-alignment.gguf", b, b->len);
	g_byte_array_unref(b);
	return r;
}
