/* tests/test-make-model-gguf.c — the tiny model files written by make-model,
 * read back with the GGUF reader and checked against the spec: every key with
 * its GGUF value type and value (§1.5, §1.7, §5.3, §6.4), the exact tensor
 * set with GGUF shapes, types by the rules of §2.9, offsets by §1.3, the
 * hyperparameter reader accepting both files, and dequantized tensors against
 * the generator's floats within each type's quantization bound. */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "model/gguf.h"
#include "model/hparams.h"
#include "model/quant.h"
#include "tests/check.h"
#include "tests/tools/model-gen.h"

#define D 256   /* tiny LM width */
#define FF 512
#define V 2048
#define DV 128  /* tiny vision width */
#define FV 256
#define PH 256  /* projector hidden */

static bool str_is(struct gguf_str s, const char *want)
{
	return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

static enum gguf_value_type key_type(const struct gguf_file *f, const char *key)
{
	int64_t i = gguf_find_key(f, key);
	return i < 0 ? (enum gguf_value_type)-1 : gguf_kv_type(f, (uint64_t)i);
}

static void check_u32(const struct gguf_file *f, const char *key, uint32_t want)
{
	uint32_t v = 0;
	CHECKF(key_type(f, key) == GGUF_TYPE_UINT32, "%s is not UINT32", key);
	CHECKF(gguf_get_u32(f, key, &v) == 0 && v == want, "%s = %u, want %u", key, v, want);
}

static void check_f32(const struct gguf_file *f, const char *key, float want)
{
	float v = 0;
	CHECKF(key_type(f, key) == GGUF_TYPE_FLOAT32, "%s is not FLOAT32", key);
	CHECKF(gguf_get_f32(f, key, &v) == 0 && v == want, "%s = %g, want %g", key, v, want);
}

static void check_str(const struct gguf_file *f, const char *key, const char *want)
{
	struct gguf_str s = { 0 };
	CHECKF(key_type(f, key) == GGUF_TYPE_STRING, "%s is not STRING", key);
	CHECKF(gguf_get_str(f, key, &s) == 0 && str_is(s, want), "%s != '%s'", key, want);
}

static void check_bool(const struct gguf_file *f, const char *key, bool want)
{
	bool v = !want;
	CHECKF(key_type(f, key) == GGUF_TYPE_BOOL, "%s is not BOOL", key);
	CHECKF(gguf_get_bool(f, key, &v) == 0 && v == want, "%s", key);
}

/* LLAMA_FTYPE of spec §1.4. */
static uint32_t ftype_of(uint32_t t)
{
	switch (t) {
	case TENSOR_F32: return 0;
	case TENSOR_F16: return 1;
	case TENSOR_Q4_0: return 2;
	case TENSOR_Q8_0: return 7;
	default: return 999;
	}
}

/* ---- expected tensors (spec §1.6, §1.8; types §2.9 and the contract) --- */

struct want {
	char name[48];
	uint32_t n_dims;
	uint64_t ne[4];
	uint32_t type;
};

static void want_add(GArray *w, uint32_t type, uint32_t n_dims, uint64_t ne0, uint64_t ne1,
		     const char *fmt, ...) G_GNUC_PRINTF(6, 7);
static void want_add(GArray *w, uint32_t type, uint32_t n_dims, uint64_t ne0, uint64_t ne1,
		     const char *fmt, ...)
{
	struct want t = { .n_dims = n_dims, .ne = { ne0, ne1, 1, 1 }, .type = type };
	va_list ap;
	va_start(ap, fmt);
	g_vsnprintf(t.name, sizeof t.name, fmt, ap);
	va_end(ap);
	g_array_append_val(w, t);
}

static GArray *want_lm(uint32_t T)
{
	GArray *w = g_array_new(FALSE, TRUE, sizeof(struct want));
	const uint32_t F = TENSOR_F32;
	/* The tied head takes the output rule: Q6_K in a Q4_0 file. */
	want_add(w, T == TENSOR_Q4_0 ? TENSOR_Q6_K : T, 2, D, V, "token_embd.weight");
	want_add(w, F, 1, D, 1, "token_embd_norm.weight");
	static const char kinds[] = "CCACCA";
	for (int i = 0; i < 6; i++) {
		want_add(w, F, 1, D, 1, "blk.%d.attn_norm.weight", i);
		want_add(w, F, 1, D, 1, "blk.%d.ffn_norm.weight", i);
		want_add(w, T, 2, D, FF, "blk.%d.ffn_gate.weight", i);
		want_add(w, T, 2, D, FF, "blk.%d.ffn_up.weight", i);
		want_add(w, T, 2, FF, D, "blk.%d.ffn_down.weight", i);
		if (kinds[i] == 'C') {
			want_add(w, T, 2, D, 3 * D, "blk.%d.shortconv.in_proj.weight", i);
			want_add(w, F, 2, 3, D, "blk.%d.shortconv.conv.weight", i);
			want_add(w, T, 2, D, D, "blk.%d.shortconv.out_proj.weight", i);
		} else {
			want_add(w, T, 2, D, 4 * 64, "blk.%d.attn_q.weight", i);
			want_add(w, T, 2, D, 2 * 64, "blk.%d.attn_k.weight", i);
			want_add(w, T, 2, D, 2 * 64, "blk.%d.attn_v.weight", i);
			want_add(w, T, 2, 4 * 64, D, "blk.%d.attn_output.weight", i);
			want_add(w, F, 1, 64, 1, "blk.%d.attn_q_norm.weight", i);
			want_add(w, F, 1, 64, 1, "blk.%d.attn_k_norm.weight", i);
		}
	}
	return w;
}

static GArray *want_mmproj(uint32_t T)
{
	GArray *w = g_array_new(FALSE, TRUE, sizeof(struct want));
	const uint32_t F = TENSOR_F32;
	want_add(w, T == TENSOR_F16 ? TENSOR_F16 : F, 4, 16, 16, "v.patch_embd.weight");
	struct want *pe = &g_array_index(w, struct want, 0);
	pe->ne[2] = 3;
	pe->ne[3] = DV;
	want_add(w, F, 1, DV, 1, "v.patch_embd.bias");
	want_add(w, F, 2, DV, 256, "v.position_embd.weight");
	for (int i = 0; i < 2; i++) {
		static const char *const names[] = { "attn_q", "attn_k", "attn_v", "attn_out" };
		for (int k = 0; k < 4; k++) {
			want_add(w, T, 2, DV, DV, "v.blk.%d.%s.weight", i, names[k]);
			want_add(w, F, 1, DV, 1, "v.blk.%d.%s.bias", i, names[k]);
		}
		want_add(w, F, 1, DV, 1, "v.blk.%d.ln1.weight", i);
		want_add(w, F, 1, DV, 1, "v.blk.%d.ln1.bias", i);
		want_add(w, F, 1, DV, 1, "v.blk.%d.ln2.weight", i);
		want_add(w, F, 1, DV, 1, "v.blk.%d.ln2.bias", i);
		want_add(w, T, 2, DV, FV, "v.blk.%d.ffn_up.weight", i);
		want_add(w, F, 1, FV, 1, "v.blk.%d.ffn_up.bias", i);
		want_add(w, T, 2, FV, DV, "v.blk.%d.ffn_down.weight", i);
		want_add(w, F, 1, DV, 1, "v.blk.%d.ffn_down.bias", i);
	}
	want_add(w, F, 1, DV, 1, "v.post_ln.weight");
	want_add(w, F, 1, DV, 1, "v.post_ln.bias");
	want_add(w, F, 1, 4 * DV, 1, "mm.input_norm.weight");
	want_add(w, F, 1, 4 * DV, 1, "mm.input_norm.bias");
	want_add(w, T, 2, 4 * DV, PH, "mm.1.weight");
	want_add(w, F, 1, PH, 1, "mm.1.bias");
	want_add(w, T, 2, PH, D, "mm.2.weight");
	want_add(w, F, 1, D, 1, "mm.2.bias");
	return w;
}

static void check_tensors(const struct gguf_file *f, GArray *want, const char *what)
{
	CHECKF(gguf_tensor_count(f) == want->len, "%s: %llu tensors, want %u", what,
	       (unsigned long long)gguf_tensor_count(f), want->len);
	for (guint i = 0; i < want->len; i++) {
		const struct want *w = &g_array_index(want, struct want, i);
		const struct gguf_tensor *t = gguf_find_tensor(f, w->name);
		CHECKF(t != NULL, "%s: %s missing", what, w->name);
		if (!t)
			continue;
		CHECKF(t->n_dims == w->n_dims && !memcmp(t->ne, w->ne, sizeof t->ne),
		       "%s: %s shape [%llu, %llu, %llu, %llu] (%u dims)", what, w->name,
		       (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
		       (unsigned long long)t->ne[2], (unsigned long long)t->ne[3], t->n_dims);
		CHECKF(t->type == w->type, "%s: %s type %s, want %s", what, w->name,
		       tensor_type_info(t->type)->name, tensor_type_info(w->type)->name);
	}
	CHECKF(gguf_find_tensor(f, "output.weight") == NULL, "%s: untied head", what);
	/* §1.3: offsets are the running sum of 32-padded sizes, from 0. */
	uint64_t off = 0;
	int bad = 0;
	for (uint64_t i = 0; i < gguf_tensor_count(f); i++) {
		const struct gguf_tensor *t = gguf_tensor_at(f, i);
		bad += t->offset != off;
		off += (t->n_bytes + 31) / 32 * 32;
	}
	CHECKF(bad == 0, "%s: %d tensor offsets off the §1.3 rule", what, bad);
	CHECK(gguf_version(f) == 3 && gguf_alignment(f) == 32 && gguf_data_offset(f) % 32 == 0);
	CHECK(gguf_data_offset(f) + off == gguf_file_size(f));
}

/* ---- keys --------------------------------------------------------------- */

/* GPT-2 byte-to-unicode, as spec §6.4 words it. */
static gunichar gpt2_char(unsigned b)
{
	bool self = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
	if (self)
		return b;
	unsigned rank = 0;
	for (unsigned c = 0; c < b; c++)
		rank += !((c >= 0x21 && c <= 0x7e) || (c >= 0xa1 && c <= 0xac) || c >= 0xae);
	return 0x100 + rank;
}

static void check_vocab(const struct gguf_file *f)
{
	struct gguf_array tok = { 0 }, type = { 0 }, merges = { 0 };
	CHECK(key_type(f, "tokenizer.ggml.tokens") == GGUF_TYPE_ARRAY);
	CHECK(gguf_get_array(f, "tokenizer.ggml.tokens", &tok) == 0 && tok.type == GGUF_TYPE_STRING);
	CHECK(gguf_get_array(f, "tokenizer.ggml.token_type", &type) == 0 && type.type == GGUF_TYPE_INT32);
	CHECK(gguf_get_array(f, "tokenizer.ggml.merges", &merges) == 0 && merges.type == GGUF_TYPE_STRING);
	CHECK(tok.count == V && type.count == V);
	if (tok.count != V || type.count != V)
		return;
	/* §5.3 special tokens, exact texts, all CONTROL */
	static const struct {
		uint32_t id;
		const char *text;
	} special[] = {
		{ 0, "<|pad|>" }, { 1, "<|startoftext|>" }, { 2, "<|endoftext|>" }, { 5, "<|fim_suf|>" },
		{ 6, "<|im_start|>" }, { 7, "<|im_end|>" }, { 8, "<|tool_list_start|>" },
		{ 13, "<|tool_response_end|>" }, { 14, "<|reserved_4|>" }, { 15, "<|reserved_5|>" },
		{ 16, "<|reserved_6|>" }, { 395, "<|reserved_385|>" }, { 396, "<image>" },
		{ 397, "<|img_row_1_col_1|>" }, { 398, "<|img_row_1_col_2|>" },
		{ 407, "<|img_row_2_col_1|>" }, { 496, "<|img_row_10_col_10|>" },
		{ 497, "<|img_thumbnail|>" }, { 498, "<|image_start|>" }, { 499, "<|image_end|>" },
		{ 500, "<|image_split|>" },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(special); i++)
		CHECKF(str_is(gguf_array_string(&tok, special[i].id), special[i].text), "token %u",
		       special[i].id);
	int bad_type = 0, bad_byte = 0;
	int64_t ty;
	for (uint32_t id = 0; id < V; id++) {
		CHECK(gguf_array_int(&type, id, &ty) == 0);
		bad_type += ty != (id <= 500 ? 3 : 1); /* no padding: the tiny vocab is all trained */
	}
	/* ids 501..756: the 256 byte tokens, byte order */
	for (unsigned b = 0; b < 256; b++) {
		char buf[8];
		buf[g_unichar_to_utf8(gpt2_char(b), buf)] = 0;
		bad_byte += !str_is(gguf_array_string(&tok, 501 + b), buf);
	}
	CHECK(bad_type == 0);
	CHECK(bad_byte == 0);
	CHECK(str_is(gguf_array_string(&tok, 501 + 0x20), "\xc4\xa0"));  /* U+0120 */
	CHECK(str_is(gguf_array_string(&tok, 501 + 0x0a), "\xc4\x8a"));  /* U+010A */
	CHECK(str_is(gguf_array_string(&tok, 501 + 0x7f), "\xc4\xa1"));  /* U+0121 */
	CHECK(str_is(gguf_array_string(&tok, 501 + 0xad), "\xc5\x83"));  /* U+0143 */

	/* Unique texts; every merge "A B": A, B and AB are vocabulary entries
	 * (what HF tokenizers demands); V − 757 new tokens need that many merges. */
	GHashTable *set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	int dup = 0, bad_merge = 0;
	for (uint32_t id = 0; id < V; id++) {
		struct gguf_str s = gguf_array_string(&tok, id);
		dup += !g_hash_table_add(set, g_strndup(s.ptr, s.len));
	}
	CHECK(dup == 0);
	CHECK(merges.count >= V - 757);
	for (uint64_t i = 0; i < merges.count; i++) {
		struct gguf_str m = gguf_array_string(&merges, i);
		char *text = g_strndup(m.ptr, m.len);
		char *sp = strchr(text + 1, ' ');
		if (!sp) {
			bad_merge++;
		} else {
			*sp = 0;
			char *joined = g_strconcat(text, sp + 1, NULL);
			bad_merge += !g_hash_table_contains(set, text) ||
				     !g_hash_table_contains(set, sp + 1) || !g_hash_table_contains(set, joined);
			g_free(joined);
		}
		g_free(text);
	}
	CHECKF(bad_merge == 0, "%d merges with a side or result outside the vocabulary", bad_merge);
	g_hash_table_destroy(set);
}

static void check_lm_keys(const struct gguf_file *f, uint32_t T)
{
	check_str(f, "general.architecture", "lfm2");
	check_str(f, "general.type", "model");
	check_u32(f, "general.file_type", ftype_of(T));
	check_u32(f, "general.quantization_version", 2);
	check_u32(f, "lfm2.block_count", 6);
	check_u32(f, "lfm2.context_length", 4096);
	check_u32(f, "lfm2.embedding_length", D);
	check_u32(f, "lfm2.feed_forward_length", FF);
	check_u32(f, "lfm2.attention.head_count", 4);
	check_u32(f, "lfm2.vocab_size", V);
	check_u32(f, "lfm2.shortconv.l_cache", 3);
	check_f32(f, "lfm2.rope.freq_base", 1e6f);
	check_f32(f, "lfm2.attention.layer_norm_rms_epsilon", 1e-5f);
	struct gguf_array kvh = { 0 };
	CHECK(gguf_get_array(f, "lfm2.attention.head_count_kv", &kvh) == 0);
	CHECK(kvh.type == GGUF_TYPE_INT32 && kvh.count == 6);
	static const int64_t kinds[6] = { 0, 0, 2, 0, 0, 2 };
	for (uint64_t i = 0; i < kvh.count && i < 6; i++) {
		int64_t v = -1;
		CHECK(gguf_array_int(&kvh, i, &v) == 0 && v == kinds[i]);
	}
	CHECK(gguf_find_key(f, "lfm2.attention.key_length") < 0); /* head_dim = d / n_head */
	check_str(f, "tokenizer.ggml.model", "gpt2");
	check_str(f, "tokenizer.ggml.pre", "lfm2");
	check_u32(f, "tokenizer.ggml.bos_token_id", 1);
	check_u32(f, "tokenizer.ggml.eos_token_id", 7);
	check_u32(f, "tokenizer.ggml.padding_token_id", 0);
	check_bool(f, "tokenizer.ggml.add_bos_token", true);
	check_bool(f, "tokenizer.ggml.add_eos_token", false);
	struct gguf_str tmpl = { 0 };
	CHECK(gguf_get_str(f, "tokenizer.chat_template", &tmpl) == 0);
	CHECK(tmpl.len > 0 && g_strstr_len(tmpl.ptr, (gssize)tmpl.len, "<|im_start|>") &&
	      g_strstr_len(tmpl.ptr, (gssize)tmpl.len, "<image>") &&
	      g_strstr_len(tmpl.ptr, (gssize)tmpl.len, "bos_token"));
	check_vocab(f);
}

static void check_mm_keys(const struct gguf_file *f, uint32_t T)
{
	check_str(f, "general.architecture", "clip");
	check_str(f, "general.type", "mmproj");
	check_u32(f, "general.file_type", ftype_of(T));
	check_u32(f, "general.quantization_version", 2);
	check_str(f, "clip.projector_type", "lfm2");
	check_bool(f, "clip.has_vision_encoder", true);
	check_bool(f, "clip.use_gelu", true);
	check_u32(f, "clip.vision.projection_dim", D);
	check_u32(f, "clip.vision.image_size", 256);
	check_u32(f, "clip.vision.patch_size", 16);
	check_u32(f, "clip.vision.embedding_length", DV);
	check_u32(f, "clip.vision.feed_forward_length", FV);
	check_u32(f, "clip.vision.block_count", 2);
	check_u32(f, "clip.vision.attention.head_count", 2);
	check_f32(f, "clip.vision.attention.layer_norm_epsilon", 1e-6f);
	check_u32(f, "clip.vision.projector.scale_factor", 2);
	const char *arrays[] = { "clip.vision.image_mean", "clip.vision.image_std" };
	for (int k = 0; k < 2; k++) {
		struct gguf_array a = { 0 };
		CHECK(gguf_get_array(f, arrays[k], &a) == 0 && a.type == GGUF_TYPE_FLOAT32 && a.count == 3);
		for (uint64_t i = 0; i < a.count && i < 3; i++)
			CHECK(gguf_array_f32(&a, i) == 0.5f);
	}
}

/* ---- values ------------------------------------------------------------- */

static float absmax_of(const float *x, int from, int to)
{
	float m = 0;
	for (int j = from; j < to; j++)
		m = fmaxf(m, fabsf(x[j]));
	return m;
}

/* Largest error of element i of a dequantized row of type t against the
 * floats x it was made from (the analysis of tests/test-quant.c). Blocks
 * read stay inside the row: a quantized row is whole blocks. */
static float bound(uint32_t t, const float *x, int i)
{
	switch (t) {
	case TENSOR_F32:
		return 0;
	case TENSOR_F16:
		return fabsf(x[i]) / 2048 + 2.98023224e-08f;
	case TENSOR_Q8_0: {
		float a = absmax_of(x, i / 32 * 32, i / 32 * 32 + 32);
		return a / 254 + a / 2048;
	}
	case TENSOR_Q4_0:
		return absmax_of(x, i / 32 * 32, i / 32 * 32 + 32) / 8 * (1 + 1.0f / 256);
	case TENSOR_Q6_K:
		return absmax_of(x, i / 16 * 16, i / 16 * 16 + 16) / 16 +
		       absmax_of(x, i / 256 * 256, i / 256 * 256 + 256) / 256;
	default:
		return 0;
	}
}

static void check_values(const struct gguf_file *f, const char *name, uint64_t row)
{
	const struct gguf_tensor *t = gguf_find_tensor(f, name);
	CHECKF(t != NULL, "%s", name);
	if (!t)
		return;
	const uint64_t ne0 = t->ne[0];
	uint64_t row_bytes = 0;
	CHECK(tensor_row_bytes(t->type, ne0, &row_bytes) == 0);
	float *got = g_new(float, ne0), *want = g_new(float, ne0);
	CHECK(dequantize_row(t->type, (const uint8_t *)t->data + row * row_bytes, got, ne0) == 0);
	CHECK(model_gen_values("tiny", 1, name, row * ne0, want, ne0) == 0);
	int over = 0;
	for (uint64_t i = 0; i < ne0; i++)
		over += !(fabsf(got[i] - want[i]) <= bound(t->type, want, (int)i) * 1.0001f);
	CHECKF(over == 0, "%s row %llu (%s): %d elements past the bound", name,
	       (unsigned long long)row, tensor_type_info(t->type)->name, over);
	g_free(got);
	g_free(want);
}

static void check_file_pair(const char *dir, const char *type_name)
{
	uint32_t T = 0;
	CHECK(model_gen_parse_type(type_name, &T) == 0);
	struct model_gen_options o = { .preset = "tiny", .lm_type = T, .mm_type = T, .seed = 1 };
	char *lm = g_strdup_printf("%s/lm-%s.gguf", dir, type_name);
	char *mm = g_strdup_printf("%s/mm-%s.gguf", dir, type_name);
	CHECK(model_gen_write_lm(&o, lm) == 0);
	CHECK(model_gen_write_mmproj(&o, mm) == 0);
	struct gguf_file *f = NULL, *g = NULL;
	struct gguf_error err = { 0 };
	CHECKF(gguf_file_open(lm, &f, &err) == 0, "%s: %s", lm, err.message);
	CHECKF(gguf_file_open(mm, &g, &err) == 0, "%s: %s", mm, err.message);
	if (f) {
		GArray *w = want_lm(T);
		check_tensors(f, w, lm);
		g_array_free(w, TRUE);
		check_lm_keys(f, T);
		struct lfm2_lm_hparams hp;
		char msg[256] = "";
		CHECKF(lfm2_lm_hparams_read(f, &hp, msg, sizeof msg) == 0, "%s", msg);
		for (uint64_t r = 0; r < V; r += 677)
			check_values(f, "token_embd.weight", r);
		check_values(f, "token_embd.weight", V - 1);
		check_values(f, "blk.5.ffn_down.weight", 3);
		check_values(f, "blk.0.shortconv.conv.weight", 17); /* F32: exact */
	}
	if (g) {
		GArray *w = want_mmproj(T);
		check_tensors(g, w, mm);
		g_array_free(w, TRUE);
		check_mm_keys(g, T);
		struct lfm2_vision_hparams hp;
		char msg[256] = "";
		CHECKF(lfm2_vision_hparams_read(g, &hp, msg, sizeof msg) == 0, "%s", msg);
		check_values(g, "mm.1.weight", 100);
		check_values(g, "v.patch_embd.weight", 5);
		check_values(g, "v.position_embd.weight", 255);
	}
	gguf_file_destroy(f);
	gguf_file_destroy(g);
	g_remove(lm);
	g_remove(mm);
	g_free(lm);
	g_free(mm);
}

int main(void)
{
	const char *root = g_getenv("CAPTIOND_BUILD_ROOT");
	char *dir = g_build_filename(root ? root : g_get_tmp_dir(), "test-make-model-gguf-XXXXXX", NULL);
	if (!g_mkdtemp(dir)) {
		CHECK(!"cannot make a temporary directory");
		return check_report();
	}
	static const char *const types[] = { "F32", "F16", "Q8_0", "Q4_0" };
	for (size_t i = 0; i < G_N_ELEMENTS(types); i++)
		check_file_pair(dir, types[i]);
	g_rmdir(dir);
	g_free(dir);
	return check_report();
}
