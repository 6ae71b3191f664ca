/* vk/ops_matmul.h — matrix × matrix: prefill of the decoder and every linear
 * layer of the vision encoder and projector.
 *
 *   Y[n][m] = act( Σ_k W[m][k]·X[n][k] + bias[m] ) + R[n][m]
 *
 * ggml layout (vk/ops.h): W is [K, M] (M rows of K weights) of type F32,
 * F16, BF16, Q8_0, Q4_0 or Q6_K; X is F32 [K, N]; Y and R are F32 [M, N];
 * bias is F32 [M, 1]. The epilogue is applied in that order: bias, then the
 * activation, then the residual (so ViT "x + out_proj(o)" and "x +
 * ffn_down(h)" are one op each, and ffn_up + GELU-tanh or the projector's
 * mm.1 + GELU-erf too). R may be Y itself (in place: each element is read
 * and then written by the same invocation).
 *
 * Two kernels, chosen per device at run time: a tiled shared-memory f32
 * kernel that runs everywhere (lavapipe included), and, when the shaders
 * were built with GL_NV_cooperative_matrix support and the device exposes
 * VK_NV_cooperative_matrix, a tensor-core kernel (f16 inputs, f32
 * accumulate; X and the dequantized W are rounded to f16, so expect an
 * NMSE around 1e-6 instead of 1e-12). Tensors larger than one binding are
 * walked in pieces of rows like gpu_op_mul_mat_vec.
 *
 * Returns 0, -EINVAL (types, shapes, ranges; logged with the label),
 * -ENOTSUP (no pipeline for the weight type), -E2BIG (one row larger than a
 * binding), -ENOSPC (recorder full).
 */
#ifndef CAPTIOND_VK_OPS_MATMUL_H
#define CAPTIOND_VK_OPS_MATMUL_H

#include <stdbool.h>

#include "vk/ops.h"

enum gpu_act {
	GPU_ACT_NONE = 0,
	GPU_ACT_GELU_TANH = 1, /* 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))): ViT MLP */
	GPU_ACT_GELU_ERF = 2,  /* 0.5x(1 + erf(x/√2)): the projector (HF "gelu") */
};

/* Optional epilogue; NULL or zeroed: plain Y = W·X. */
struct gpu_mul_mat_epilogue {
	const struct gpu_tensor *bias;     /* F32 [M, 1] or NULL */
	const struct gpu_tensor *residual; /* F32 [M, N] or NULL; may be Y */
	enum gpu_act act;
};

int gpu_op_mul_mat(struct gpu_recorder *rec, const char *label, const struct gpu_tensor *w,
		   const struct gpu_tensor *x, const struct gpu_tensor *y,
		   const struct gpu_mul_mat_epilogue *ep);

/* Tile shapes of the cooperative-matrix kernel, rows of X × rows of W per
 * workgroup: L 128×128, M 64×128, S 64×64, T 64×64 with two groups of
 * subgroups splitting K, V 32×64 with four. AUTO picks by grid size; tests
 * and benchmarks force one. Only L exists for F32, BF16 and Q6_K weights
 * (the others take it); without cooperative matrices every choice runs the
 * tiled kernel. */
enum gpu_mm_tile {
	GPU_MM_TILE_AUTO = 0,
	GPU_MM_TILE_L,
	GPU_MM_TILE_M,
	GPU_MM_TILE_S,
	GPU_MM_TILE_T,
	GPU_MM_TILE_V,
	GPU_MM_TILE_COUNT
};

int gpu_op_mul_mat_tile(struct gpu_recorder *rec, const char *label, const struct gpu_tensor *w,
			const struct gpu_tensor *x, const struct gpu_tensor *y,
			const struct gpu_mul_mat_epilogue *ep, enum gpu_mm_tile tile);

/* The tile AUTO takes for M rows of W and N rows of X. */
enum gpu_mm_tile gpu_mul_mat_tile_for(uint32_t M, uint32_t N);

/* Whether gpu_op_mul_mat runs the cooperative-matrix kernel on this device
 * (for benchmarks and the NMSE bound a test applies). */
bool gpu_mul_mat_uses_coopmat(const struct gpu_recorder *rec);

#endif
