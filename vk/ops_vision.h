/* vk/ops_vision.h — the ops of the SigLIP2-NaFlex encoder and the LFM2-VL
 * projector (spec §4.5–§4.10) that gpu_op_mul_mat does not cover.
 *
 * One crop through the encoder, in these ops:
 *   frame (uint8 RGB/RGBA) ─ gpu_op_image_resize ×2 (only when the frame is
 *     not already a fixed point of the smart resize) → crop (uint8 RGB)
 *   gpu_op_image_patches → patches F32 [768, n]           (c, ky, kx) order
 *   gpu_op_mul_mat(v.patch_embd.weight as [768, D], bias, residual = P)
 *     with P = gpu_vision_pos_embd_resize(...) uploaded once per crop size
 *   per layer: gpu_op_layer_norm → mul_mat q, k, v (+bias) →
 *     gpu_op_attention_encoder → mul_mat out (+bias, +x in place) →
 *     gpu_op_layer_norm → mul_mat up (+bias, GELU-tanh) → mul_mat down
 *     (+bias, +x in place)
 *   gpu_op_layer_norm (post_ln) → gpu_op_pixel_unshuffle →
 *   [gpu_op_layer_norm ε 1e-5] → mul_mat mm.1 (+bias, GELU-erf) → mul_mat mm.2
 *
 * Patch order: the rows of v.patch_embd.weight ([16, 16, 3, D] in GGUF)
 * hold the 768 weights in (c, ky, kx) order (spec §1.8), so the patches are
 * written in that order and the GGUF tensor is used as it is — the same
 * maths as HF's linear layer on (ky, kx, c) patches with its weight
 * permuted.
 *
 * Position table on the host: the resized 16×16 table depends only on the
 * crop's patch grid (gh, gw) and the weights, and a video daemon sees one
 * or a few crop sizes; so it is computed once per size on the CPU
 * (gpu_vision_pos_embd_resize, f32 in PyTorch's separable order), uploaded,
 * and added by the patch-embedding mul_mat's residual epilogue — no dispatch
 * per frame.
 *
 * Returns as vk/ops.h: 0, -EINVAL (types, shapes, ranges; logged), -E2BIG,
 * -ENOSPC.
 */
#ifndef CAPTIOND_VK_OPS_VISION_H
#define CAPTIOND_VK_OPS_VISION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vk/ops.h"

/* y = (x − mean)/sqrt(var + eps)·w + b per row, mean and population
 * variance over ne[0] in f32. x, y: F32 [D, n] (y may be x); w, b: F32 [D, 1]. */
int gpu_op_layer_norm(struct gpu_recorder *rec, const char *label, const struct gpu_tensor *x,
		      const struct gpu_tensor *w, const struct gpu_tensor *b, float eps,
		      const struct gpu_tensor *y);

/* Bidirectional multi-head attention (no mask, no RoPE) over the patches
 * of each crop of a batch, in one dispatch: q, k, v, o F32 [n_head·hd, n]
 * (views with row_stride work, e.g. into one fused QKV tensor); scores
 * scaled by 1/sqrt(hd). hd ≤ 128 (64 and 72 occur). o must not alias q, k
 * or v.
 *
 * segs: the crops, as n_seg + 1 ascending uint32 row starts in a GPU buffer
 * (segment i is rows [s[i], s[i+1]) and attends only to itself; s[n_seg] ≤
 * n), with the largest segment's length; NULL: all n rows are one crop.
 * The shader clamps the table to n rows.
 *
 * Two kernels, chosen at run time like gpu_op_mul_mat: a flash-attention
 * kernel on NV cooperative matrices (f16 Q, K, V and probabilities, f32
 * scores, softmax and sums; measured NMSE ~2e-7 on the H100) where the
 * shaders were built with it, the device has it and hd ≤ 96, and a plain
 * f32 kernel everywhere (GPU_ATTN_ENC_PLAIN forces it). */
struct gpu_attn_segs {
	struct gpu_buffer *buffer;
	uint64_t offset;   /* bytes, a multiple of 4 */
	uint32_t n_seg;
	uint32_t max_rows; /* rows of the largest segment */
};

#define GPU_ATTN_ENC_PLAIN 1u

int gpu_op_attention_encoder(struct gpu_recorder *rec, const char *label,
			     const struct gpu_tensor *q, const struct gpu_tensor *k,
			     const struct gpu_tensor *v, uint32_t n_head,
			     const struct gpu_attn_segs *segs, uint32_t flags,
			     const struct gpu_tensor *o);

/* Whether gpu_op_attention_encoder runs the cooperative-matrix kernel here
 * for heads of hd (it takes hd ≤ 96). */
bool gpu_attention_encoder_uses_coopmat(const struct gpu_recorder *rec, uint32_t hd);

/* 2×2 pixel unshuffle (spec §4.10): x F32 [D, gh·gw] (patches row-major),
 * gh and gw even; u F32 [4D, (gh/2)·(gw/2)], channel dy·2D + dx·D + c. */
int gpu_op_pixel_unshuffle(struct gpu_recorder *rec, const char *label,
			   const struct gpu_tensor *x, uint32_t gh, uint32_t gw,
			   const struct gpu_tensor *u);

/* The crops of a batch in a GPU buffer: per crop 4 uint32, its first patch
 * (row of x), first token (row of u), grid width gw (even) and tokens
 * (gh/2)·(gw/2); max_tok the largest crop's tokens. */
struct gpu_crop_table {
	struct gpu_buffer *buffer;
	uint64_t offset; /* bytes, a multiple of 4 */
	uint32_t n;
	uint32_t max_tok;
};

/* gpu_op_pixel_unshuffle of every crop of the table in one dispatch: x F32
 * [D, patches of the batch], u F32 [4D, tokens of the batch]. The shader
 * skips table entries reaching past x or u. */
int gpu_op_pixel_unshuffle_crops(struct gpu_recorder *rec, const char *label,
				 const struct gpu_tensor *x, const struct gpu_crop_table *crops,
				 const struct gpu_tensor *u);

/* An 8-bit image in a GPU buffer: channels 3 (RGB) or 4 (RGBA/RGBx, the
 * fourth byte ignored). */
struct gpu_image {
	struct gpu_buffer *buffer;
	uint64_t offset;      /* bytes to pixel (0, 0) */
	uint32_t width, height;
	uint32_t channels;
	uint64_t row_stride;  /* bytes between rows; 0: width·channels */
};

/* Normalised 16×16 patches of a crop whose sides are multiples of 16:
 * p[n][c·256 + ky·16 + kx] = (pixel/255 − mean[c])/std[c], n = py·gw + px.
 * patches: F32 [768, (h/16)·(w/16)]. */
int gpu_op_image_patches(struct gpu_recorder *rec, const char *label,
			 const struct gpu_image *img, const float mean[3], const float std[3],
			 const struct gpu_tensor *patches);

/* Pillow's fixed-point bilinear weights for one axis n_in → n_out (spec
 * §4.5), laid out for gpu_op_image_resize: per output index o the ints
 * [lo, count, k_0 … k_{ksize−1}]. gpu_resize_coeffs_size gives ksize and
 * the ints needed; fill writes them (words ≥ that size). 0 or -EINVAL. */
int gpu_resize_coeffs_size(uint32_t n_in, uint32_t n_out, uint32_t *ksize, size_t *words);
int gpu_resize_coeffs_fill(uint32_t n_in, uint32_t n_out, int32_t *dst, size_t words);

/* Where a coefficient table lives on the GPU. */
struct gpu_resize_coeffs {
	struct gpu_buffer *buffer;
	uint64_t offset;   /* bytes, a multiple of 4 */
	uint32_t n_in, n_out, ksize;
};

/* One pass of Pillow's antialiased bilinear resize, bit-exact: horizontal
 * (dst width = c->n_out, same height) or vertical (dst height = c->n_out,
 * same width). dst is RGB (3 channels); src may be RGBA. Resizing both axes
 * is a horizontal pass into an intermediate RGB image, then a vertical one,
 * as Pillow (skip a pass whose size does not change). */
int gpu_op_image_resize(struct gpu_recorder *rec, const char *label, const struct gpu_image *src,
			const struct gpu_resize_coeffs *c, int horizontal,
			const struct gpu_image *dst);

/* Host side, once per crop size: P0 [16·16][D] (v.position_embd.weight,
 * grid row-major) → P [gh·gw][D], antialiased bilinear with
 * align_corners = false (spec §4.8), width pass then height pass in f32;
 * a copy when (gh, gw) = (n, n). n = 16. Returns 0, -EINVAL, -ENOMEM. */
int gpu_vision_pos_embd_resize(const float *P0, uint32_t n, uint32_t D, uint32_t gh,
			       uint32_t gw, float *P);

#endif
