/* tests/test-hparams.c — LFM2 / LFM2-VL hyperparameters: the tiny preset's
 * files (the make-model layout, built in memory) read back with
 * the preset's values, and a table of broken keys and tensors, each with its
 * exact one-line message. */
#include "model/gguf.h"
#include "model/hparams.h"
#include "model/quant.h"
#include "tests/check.h"
#include "tests/gguf-bytes.h"

#include <errno.h>
#include <math.h>
#include <string.h>

static struct gguf_file *open_gb(struct gguf_builder *gb, GByteArray **keep)
{
	*keep = gb_finish(gb, 32);
	gb_free(gb);
	struct gguf_file *f = NULL;
	struct gguf_error err;
	int r = gguf_file_open_memory((*keep)->data, (*keep)->len, &f, &err);
	CHECKF(r == 0, "byte %llu: %s", (unsigned long long)err.offset, err.message);
	return f;
}

static void test_tiny_lm(void)
{
	GByteArray *b;
	struct gguf_file *f = open_gb(gb_lfm2(model_gen_preset("tiny"), true, TENSOR_Q8_0), &b);
	struct lfm2_lm_hparams hp;
	char err[256] = "";
	CHECKF(f && lfm2_lm_hparams_read(f, &hp, err, sizeof err) == 0, "%s", err);
	CHECK(hp.n_layer == 6 && hp.d_model == 256 && hp.d_ff == 512);
	CHECK(hp.n_head == 4 && hp.n_head_kv == 2 && hp.head_dim == 64);
	CHECK(hp.n_vocab == 2048 && hp.l_cache == 3 && hp.context_length == 4096);
	CHECK(hp.rms_eps == 1e-5f && hp.rope_theta == 1e6f);
	const bool kinds[6] = { false, false, true, false, false, true };
	CHECK(!memcmp(hp.is_attention, kinds, sizeof kinds) && hp.n_attention_layers == 2);
	CHECK(hp.bos_id == 1 && hp.eos_id == 7 && hp.pad_id == 0 && hp.add_bos);
	gguf_file_destroy(f);
	g_byte_array_unref(b);
}

static void test_tiny_vision(void)
{
	for (int norm = 0; norm < 2; norm++) {
		struct gguf_builder *gb = gb_lfm2(model_gen_preset("tiny"), false, TENSOR_Q8_0);
		if (!norm) {
			gb_tensor_remove(gb, "mm.input_norm.weight");
			gb_tensor_remove(gb, "mm.input_norm.bias");
		}
		GByteArray *b;
		struct gguf_file *f = open_gb(gb, &b);
		struct lfm2_vision_hparams hp;
		char err[256] = "";
		CHECKF(f && lfm2_vision_hparams_read(f, &hp, err, sizeof err) == 0, "%s", err);
		CHECK(hp.patch_size == 16 && hp.width == 128 && hp.d_ff == 256 && hp.n_layer == 2);
		CHECK(hp.n_head == 2 && hp.head_dim == 64 && hp.n_pos == 256 && hp.pos_grid == 16);
		CHECK(hp.image_size == 256 && hp.projection_dim == 256 && hp.scale_factor == 2);
		CHECK(hp.proj_hidden == 256 && hp.has_input_norm == (bool)norm && hp.use_gelu);
		CHECK(hp.ln_eps == 1e-6f && hp.proj_ln_eps == 1e-5f);
		for (int i = 0; i < 3; i++)
			CHECK(hp.image_mean[i] == 0.5f && hp.image_std[i] == 0.5f);
		gguf_file_destroy(f);
		g_byte_array_unref(b);
	}
}

/* A small shape for the error table: head_dim 16, a 2×2 patch, 4 positions. */
static const struct model_gen_shape small = { "small", "CCA", 32, 2, 1, 64, 64, 4096,
					      32, 64, 1, 2, 64, 2, 4 };

static void lm_arch(struct gguf_builder *gb) { gb_kv_remove(gb, "general.architecture"); gb_kv_str(gb, "general.architecture", "clip"); }
static void lm_no_blocks(struct gguf_builder *gb) { gb_kv_remove(gb, "lfm2.block_count"); }
static void lm_blocks_str(struct gguf_builder *gb) { gb_kv_remove(gb, "lfm2.block_count"); gb_kv_str(gb, "lfm2.block_count", "3"); }
static void lm_blocks_0(struct gguf_builder *gb) { gb_kv_remove(gb, "lfm2.block_count"); gb_kv_u32(gb, "lfm2.block_count", 0); }
static void lm_kv_short(struct gguf_builder *gb)
{
	gb_kv_remove(gb, "lfm2.attention.head_count_kv");
	gb_kv_arr_i32(gb, "lfm2.attention.head_count_kv", 2, (const int32_t[]){ 0, 0 });
}
static void lm_kv_scalar(struct gguf_builder *gb)
{
	gb_kv_remove(gb, "lfm2.attention.head_count_kv");
	gb_kv_u32(gb, "lfm2.attention.head_count_kv", 1);
}
static void lm_kv_mixed(struct gguf_builder *gb)
{
	gb_kv_remove(gb, "lfm2.attention.head_count_kv");
	gb_kv_arr_i32(gb, "lfm2.attention.head_count_kv", 3, (const int32_t[]){ 2, 0, 1 });
}
static void lm_kv_too_many(struct gguf_builder *gb)
{
	gb_kv_remove(gb, "lfm2.attention.head_count_kv");
	gb_kv_arr_i32(gb, "lfm2.attention.head_count_kv", 3, (const int32_t[]){ 0, 0, 3 });
}
static void lm_eps_0(struct gguf_builder *gb) { gb_kv_remove(gb, "lfm2.attention.layer_norm_rms_epsilon"); gb_kv_f32(gb, "lfm2.attention.layer_norm_rms_epsilon", 0); }
static void lm_bos(struct gguf_builder *gb) { gb_kv_remove(gb, "tokenizer.ggml.bos_token_id"); gb_kv_u32(gb, "tokenizer.ggml.bos_token_id", 64); }
static void lm_tokens(struct gguf_builder *gb) { gb_kv_arr_str(gb, "tokenizer.ggml.tokens", 2, (const char *const[]){ "a", "b" }); }
static void lm_missing(struct gguf_builder *gb) { gb_tensor_remove(gb, "blk.2.attn_k.weight"); }
static void lm_shape(struct gguf_builder *gb) { gb_tensor_reshape(gb, "blk.0.ffn_down.weight", TENSOR_Q8_0, 2, (const uint64_t[]){ 64, 16 }); }
static void lm_conv_type(struct gguf_builder *gb) { gb_tensor_reshape(gb, "blk.1.shortconv.conv.weight", TENSOR_F16, 2, (const uint64_t[]){ 3, 32 }); }
static void lm_3d(struct gguf_builder *gb) { gb_tensor_reshape(gb, "token_embd.weight", TENSOR_Q8_0, 3, (const uint64_t[]){ 32, 64, 2 }); }
static void lm_output(struct gguf_builder *gb) { gb_tensor(gb, "output.weight", TENSOR_Q8_0, 2, (const uint64_t[]){ 32, 64 }, false); }
static void lm_value_length(struct gguf_builder *gb) { gb_kv_u32(gb, "lfm2.attention.value_length", 8); }

static void vis_projector(struct gguf_builder *gb) { gb_kv_remove(gb, "clip.projector_type"); gb_kv_str(gb, "clip.projector_type", "mlp"); }
static void vis_projector_newline(struct gguf_builder *gb) { gb_kv_remove(gb, "clip.projector_type"); gb_kv_str(gb, "clip.projector_type", "lf\n'm"); }
static void vis_no_encoder(struct gguf_builder *gb) { gb_kv_remove(gb, "clip.has_vision_encoder"); gb_kv_bool(gb, "clip.has_vision_encoder", false); }
static void vis_heads(struct gguf_builder *gb) { gb_kv_remove(gb, "clip.vision.attention.head_count"); gb_kv_u32(gb, "clip.vision.attention.head_count", 3); }
static void vis_mean(struct gguf_builder *gb)
{
	gb_kv_remove(gb, "clip.vision.image_mean");
	gb_kv_arr_f32(gb, "clip.vision.image_mean", 2, (const float[]){ 0.5f, 0.5f });
}
static void vis_std_0(struct gguf_builder *gb)
{
	gb_kv_remove(gb, "clip.vision.image_std");
	gb_kv_arr_f32(gb, "clip.vision.image_std", 3, (const float[]){ 0.5f, 0.0f, 0.5f });
}
static void vis_no_mm1(struct gguf_builder *gb) { gb_tensor_remove(gb, "mm.1.weight"); }
static void vis_pos(struct gguf_builder *gb) { gb_tensor_reshape(gb, "v.position_embd.weight", TENSOR_F32, 2, (const uint64_t[]){ 32, 5 }); }
static void vis_patch_type(struct gguf_builder *gb) { gb_tensor_reshape(gb, "v.patch_embd.weight", TENSOR_Q8_0, 4, (const uint64_t[]){ 32, 2, 3, 32 }); }
static void vis_patch_shape(struct gguf_builder *gb) { gb_tensor_reshape(gb, "v.patch_embd.weight", TENSOR_F32, 4, (const uint64_t[]){ 2, 2, 4, 32 }); }
static void vis_norm_bias_only(struct gguf_builder *gb) { gb_tensor_remove(gb, "mm.input_norm.weight"); }
static void vis_mm2(struct gguf_builder *gb) { gb_tensor_reshape(gb, "mm.2.weight", TENSOR_Q8_0, 2, (const uint64_t[]){ 64, 64 }); }
static void vis_ffn_bias(struct gguf_builder *gb) { gb_tensor_remove(gb, "v.blk.0.ffn_up.bias"); }

static const struct {
	bool vision;
	void (*edit)(struct gguf_builder *gb);
	const char *message;
} bad[] = {
	{ false, lm_arch, "key 'general.architecture' is 'clip', expected 'lfm2'" },
	{ false, lm_no_blocks, "key 'lfm2.block_count' is missing" },
	{ false, lm_blocks_str, "key 'lfm2.block_count' has type STRING, expected an unsigned 32-bit integer" },
	{ false, lm_blocks_0, "key 'lfm2.block_count' is 0, expected 1..64" },
	{ false, lm_kv_short, "key 'lfm2.attention.head_count_kv' has 2 entries, expected 3 (block_count)" },
	{ false, lm_kv_scalar, "key 'lfm2.attention.head_count_kv' has type UINT32, expected ARRAY of integers" },
	{ false, lm_kv_mixed, "key 'lfm2.attention.head_count_kv'[2] is 1, expected 2 like the earlier attention layers" },
	{ false, lm_kv_too_many, "key 'lfm2.attention.head_count_kv'[2] is out of range 0..2 (head_count)" },
	{ false, lm_eps_0, "key 'lfm2.attention.layer_norm_rms_epsilon' is 0, expected a positive number" },
	{ false, lm_bos, "key 'tokenizer.ggml.bos_token_id' is 64, expected 0..63" },
	{ false, lm_tokens, "key 'tokenizer.ggml.tokens' has 2 entries, expected 64 (vocab_size)" },
	{ false, lm_value_length, "key 'lfm2.attention.value_length' is 8, expected key_length 16" },
	{ false, lm_output, "tensor 'output.weight' is present: only a head tied to token_embd.weight is supported" },
	{ false, lm_missing, "tensor 'blk.2.attn_k.weight' is missing" },
	{ false, lm_shape, "tensor 'blk.0.ffn_down.weight' has shape [64, 16], expected [64, 32]" },
	{ false, lm_conv_type, "tensor 'blk.1.shortconv.conv.weight' has type F16, expected F32" },
	{ false, lm_3d, "tensor 'token_embd.weight' has shape [32, 64, 2], expected [32, 64]" },
	{ true, vis_projector, "key 'clip.projector_type' is 'mlp', expected 'lfm2'" },
	{ true, vis_projector_newline, "key 'clip.projector_type' is 'lf\\x0a\\x27m', expected 'lfm2'" },
	{ true, vis_no_encoder, "key 'clip.has_vision_encoder' is false: the file has no vision encoder" },
	{ true, vis_heads, "clip.vision.embedding_length 32 is not a multiple of head_count 3" },
	{ true, vis_mean, "key 'clip.vision.image_mean' must be 3 FLOAT32 values" },
	{ true, vis_std_0, "key 'clip.vision.image_std'[1] is 0" },
	{ true, vis_no_mm1, "tensor 'mm.1.weight' is missing" },
	{ true, vis_pos, "tensor 'v.position_embd.weight' has 5 positions, expected a square grid" },
	{ true, vis_patch_type, "tensor 'v.patch_embd.weight' has shape [32, 2, 3, 32], expected [2, 2, 3, 32]" },
	{ true, vis_patch_shape, "tensor 'v.patch_embd.weight' has shape [2, 2, 4, 32], expected [2, 2, 3, 32]" },
	{ true, vis_norm_bias_only, "tensor 'mm.input_norm.bias' is present without 'mm.input_norm.weight'" },
	{ true, vis_mm2, "tensor 'mm.2.weight' has shape [64, 64], expected [64, 32]" },
	{ true, vis_ffn_bias, "tensor 'v.blk.0.ffn_up.bias' is missing" },
};

static void test_bad(void)
{
	/* The unedited small files are good. */
	GByteArray *b;
	struct gguf_file *f = open_gb(gb_lfm2(&small, true, TENSOR_Q8_0), &b);
	struct lfm2_lm_hparams lhp;
	struct lfm2_vision_hparams vhp;
	char err[256] = "";
	CHECKF(f && lfm2_lm_hparams_read(f, &lhp, err, sizeof err) == 0, "%s", err);
	CHECK(f && lfm2_vision_hparams_read(f, &vhp, err, sizeof err) == -EBADMSG);
	CHECK(!strcmp(err, "key 'general.architecture' is 'lfm2', expected 'clip'"));
	gguf_file_destroy(f);
	g_byte_array_unref(b);
	f = open_gb(gb_lfm2(&small, false, TENSOR_Q8_0), &b);
	CHECKF(f && lfm2_vision_hparams_read(f, &vhp, err, sizeof err) == 0, "%s", err);
	CHECK(vhp.n_pos == 4 && vhp.pos_grid == 2 && vhp.patch_size == 2 && vhp.proj_hidden == 64);
	gguf_file_destroy(f);
	g_byte_array_unref(b);

	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		struct gguf_builder *gb = gb_lfm2(&small, !bad[i].vision, TENSOR_Q8_0);
		bad[i].edit(gb);
		f = open_gb(gb, &b);
		memset(err, 0, sizeof err);
		int r = !f ? 0 : bad[i].vision ? lfm2_vision_hparams_read(f, &vhp, err, sizeof err)
					       : lfm2_lm_hparams_read(f, &lhp, err, sizeof err);
		CHECKF(r == -EBADMSG, "case %zu: r = %d", i, r);
		CHECKF(!strcmp(err, bad[i].message), "case %zu:\n  got      '%s'\n  expected '%s'", i, err, bad[i].message);
		gguf_file_destroy(f);
		g_byte_array_unref(b);
	}
}

int main(void)
{
	test_tiny_lm();
	test_tiny_vision();
	test_bad();
	return check_report();
}
