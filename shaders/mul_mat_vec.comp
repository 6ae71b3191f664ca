#version 450
// shaders/mul_mat_vec.comp — y[c][r] = sum_k W[r][k] * x[c][k] for up to
// NCOLS vectors per workgroup; the kernel is mul_mat_vec.glsl (layout and
// loads explained there).
// Variants: -DW_F32 | -DW_F16 | -DW_Q8_0 | -DW_Q4_0 | -DW_Q6_K.
#extension GL_GOOGLE_include_directive : require

// Mirror of struct gpu_push_mul_mat_vec (vk/push.h).
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
} pc;

#include "mul_mat_vec.glsl"
