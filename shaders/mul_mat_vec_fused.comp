#version 450
// shaders/mul_mat_vec_fused.comp — the decoder's mat-vec with its neighbours
// fused in (one dispatch instead of two or four per use), flags in the push
// block (uniform branches):
//   NORM: x is RMS-normalized with weight nw first. The scale is one number
//         per vector, so y = scale · W·(x ⊙ nw), with Σx² gathered in the
//         same pass over x as the dot products (each row's subgroup sees all
//         of x, so it costs no extra pass and no extra dispatch).
//   GLU:  y = silu(W·x) ⊙ (W2·x), W2 a second matrix of W's type and shape
//         (ffn gate and up, then SwiGLU).
//   ADD:  y += r (the residual; r may be y: each element is read and then
//         written by one invocation).
// Order: NORM, the products, GLU, ADD. The kernel is mul_mat_vec.glsl.
// Variants: -DW_F32 | -DW_F16 | -DW_Q8_0 | -DW_Q4_0 | -DW_Q6_K.
#extension GL_GOOGLE_include_directive : require

// Mirror of struct gpu_push_mmv_fused (vk/push_lm.h).
layout(push_constant) uniform Push {
	uint ne0;
	uint nrows;
	uint ncols;
	uint w_off;
	uint w_stride;
	uint x_off;
	uint x_stride;
	uint y_off;
	uint y_stride;
	uint flags;
	uint nw_off;
	uint r_off;
	uint r_stride;
	uint w2_off;
	float eps;
} pc;

#define FUSED
#include "mul_mat_vec.glsl"
