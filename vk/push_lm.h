/* vk/push_lm.h — push constants of the decoder ops (vk/ops_lm.h), mirrored
 * field by field in their .comp files; sizes are checked against the SPIR-V
 * at start-up as for vk/push.h. Offsets and strides count elements of the
 * bound type (floats, halves, ints or quant blocks). */
#ifndef CAPTIOND_VK_PUSH_LM_H
#define CAPTIOND_VK_PUSH_LM_H

#include <stdint.h>

/* shaders/get_rows.comp (gather and scatter) */
struct gpu_push_get_rows {
	uint32_t ne0, n;
	uint32_t r0, nrows, n_table;
	uint32_t t_off, t_stride;
	uint32_t ids_off;
	uint32_t d_off, d_stride;
};
_Static_assert(sizeof(struct gpu_push_get_rows) == 40, "mirror of get_rows.comp");

/* shaders/swiglu.comp */
struct gpu_push_swiglu {
	uint32_t ne0, nrows;
	uint32_t g_off, g_stride;
	uint32_t u_off, u_stride;
	uint32_t y_off, y_stride;
};
_Static_assert(sizeof(struct gpu_push_swiglu) == 32, "mirror of swiglu.comp");

/* shaders/shortconv.comp */
struct gpu_push_shortconv {
	uint32_t d, n_tok, n_slots, n_seq;
	uint32_t z_off, z_stride;
	uint32_t w_off;
	uint32_t s_off, s_stride;
	uint32_t seqs_off;
	uint32_t y_off, y_stride;
};
_Static_assert(sizeof(struct gpu_push_shortconv) == 48, "mirror of shortconv.comp");

/* shaders/rope_qk_norm.comp */
struct gpu_push_rope_qk_norm {
	uint32_t hd, n_head, n_kv, n_tok, n_slots, n_ctx;
	uint32_t q_off, q_stride;
	uint32_t k_off, k_stride;
	uint32_t v_off, v_stride;
	uint32_t qn_off, kn_off;
	uint32_t toks_off;
	uint32_t kc_off, kc_stride;
	uint32_t vc_off;
	float eps, theta;
};
_Static_assert(sizeof(struct gpu_push_rope_qk_norm) == 80, "mirror of rope_qk_norm.comp");

/* shaders/attention.comp */
struct gpu_push_attention {
	uint32_t hd, n_head, group, n_tok, n_seq, n_slots, n_ctx;
	uint32_t q_off, q_stride;
	uint32_t kc_off, kc_stride;
	uint32_t vc_off;
	uint32_t seqs_off;
	uint32_t o_off, o_stride;
	float scale;
	uint32_t n_split, split_keys; /* pieces of the key range (flash-decoding), keys per piece */
	uint32_t part_off;
};
_Static_assert(sizeof(struct gpu_push_attention) == 76, "mirror of attention.comp");

/* shaders/sample.comp (penalty and argmax) */
struct gpu_push_sample {
	uint32_t n_vocab, n_seq;
	uint32_t z_off, z_stride;
	uint32_t i_off, i_stride;
	float penalty;
};
_Static_assert(sizeof(struct gpu_push_sample) == 28, "mirror of sample.comp");

/* shaders/mul_mat_vec_fused.comp: flags GPU_MMV_NORM | GPU_MMV_GLU | GPU_MMV_ADD */
struct gpu_push_mmv_fused {
	uint32_t ne0, nrows, ncols;
	uint32_t w_off, w_stride;
	uint32_t x_off, x_stride;
	uint32_t y_off, y_stride;
	uint32_t flags;
	uint32_t nw_off;
	uint32_t r_off, r_stride;
	uint32_t w2_off;
	float eps;
};
_Static_assert(sizeof(struct gpu_push_mmv_fused) == 60, "mirror of mul_mat_vec_fused.comp");
#define GPU_MMV_NORM 1u
#define GPU_MMV_GLU 2u
#define GPU_MMV_ADD 4u

#endif
