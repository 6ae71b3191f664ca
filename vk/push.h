/* vk/push.h — the push-constant struct of each shader, mirrored field by
 * field in its .comp file. gpu_pipelines_create() also checks each size
 * against the block the SPIR-V declares, so a drift fails at start-up.
 *
 * Offsets (`*_off`) and strides count elements of the bound type (floats,
 * halves or quant blocks) from the start of the binding.
 */
#ifndef CAPTIOND_VK_PUSH_H
#define CAPTIOND_VK_PUSH_H

#include <stdint.h>

/* shaders/mul_mat_vec.comp: y[c][r] = sum_k W[r][k] * x[c][k] */
struct gpu_push_mul_mat_vec {
	uint32_t ne0;       /* K: elements per row of W and per vector x */
	uint32_t nrows;     /* rows of W (and of y) in this dispatch */
	uint32_t ncols;     /* vectors x (columns of y) */
	uint32_t w_off;     /* first block of row 0 */
	uint32_t w_stride;  /* blocks between rows */
	uint32_t x_off, x_stride; /* floats; stride between vectors */
	uint32_t y_off, y_stride; /* floats; stride between output vectors */
};
_Static_assert(sizeof(struct gpu_push_mul_mat_vec) == 36, "mirror of mul_mat_vec.comp");

/* shaders/rms_norm.comp: y[r][i] = x[r][i] / sqrt(mean_i(x[r]^2) + eps) * w[i] */
struct gpu_push_rms_norm {
	uint32_t ne0, nrows;
	uint32_t x_off, x_stride;
	uint32_t w_off;
	uint32_t y_off, y_stride;
	float eps;
};
_Static_assert(sizeof(struct gpu_push_rms_norm) == 32, "mirror of rms_norm.comp");

/* shaders/add.comp: c[r][i] = a[r][i] + b[r][i]; b_stride 0 broadcasts one row */
struct gpu_push_add {
	uint32_t ne0, nrows;
	uint32_t a_off, a_stride;
	uint32_t b_off, b_stride;
	uint32_t c_off, c_stride;
};
_Static_assert(sizeof(struct gpu_push_add) == 32, "mirror of add.comp");

/* shaders/mul_mat*.comp: y[n][m] = epilogue(sum_k W[m][k] * x[n][k]) */
struct gpu_push_mul_mat {
	uint32_t K, M, N;           /* M: rows of W, N: rows of x, in this dispatch */
	uint32_t w_off, w_stride;   /* units of the weight type */
	uint32_t x_off, x_stride;   /* floats */
	uint32_t y_off, y_stride;
	uint32_t b_off;
	uint32_t r_off, r_stride;
	uint32_t flags;             /* 1 bias, 2 residual, act << 2 (vk/ops_matmul.h) */
};
_Static_assert(sizeof(struct gpu_push_mul_mat) == 52, "mirror of mul_mat_push.glsl");

/* shaders/layer_norm.comp: y = (x - mean) / sqrt(var + eps) * w + b per row */
struct gpu_push_layer_norm {
	uint32_t ne0, nrows;
	uint32_t x_off, x_stride;
	uint32_t w_off, b_off;
	uint32_t y_off, y_stride;
	float eps;
};
_Static_assert(sizeof(struct gpu_push_layer_norm) == 36, "mirror of layer_norm.comp");

/* shaders/attn_enc.comp, attn_enc_cm.comp: bidirectional attention over
 * the patches of each crop (segment) */
struct gpu_push_attn_enc {
	uint32_t n, hd;
	uint32_t q_off, q_stride;
	uint32_t k_off, k_stride;
	uint32_t v_off, v_stride;
	uint32_t o_off, o_stride;
	uint32_t s_off, flags;
	float scale;
};
_Static_assert(sizeof(struct gpu_push_attn_enc) == 52, "mirror of attn_enc.comp");

/* shaders/pixel_unshuffle.comp: 2x2 patches -> one 4D token */
struct gpu_push_pixel_unshuffle {
	uint32_t D, gw, ntok, tok0;
	uint32_t x_off, x_stride;
	uint32_t y_off, y_stride;
	uint32_t x_rows, y_rows;
	uint32_t c_off, flags;
};
_Static_assert(sizeof(struct gpu_push_pixel_unshuffle) == 48, "mirror of pixel_unshuffle.comp");

/* shaders/image_patches.comp: uint8 crop -> normalised patches (bytes for img) */
struct gpu_push_image_patches {
	uint32_t img_off, img_stride, channels;
	uint32_t gw, npatch, patch0;
	uint32_t p_off, p_stride;
	float mean[3], std[3];
};
_Static_assert(sizeof(struct gpu_push_image_patches) == 56, "mirror of image_patches.comp");

/* shaders/image_resize.comp: one axis of the Pillow bilinear resize (bytes, ints) */
struct gpu_push_image_resize {
	uint32_t src_off, src_stride, src_ch;
	uint32_t dst_off, dst_stride;
	uint32_t out_w, out_h;
	uint32_t horizontal;
	uint32_t ksize;
	uint32_t c_off;
};
_Static_assert(sizeof(struct gpu_push_image_resize) == 40, "mirror of image_resize.comp");

#endif
