// shaders/mul_mat_push.glsl — mirror of struct gpu_push_mul_mat (vk/push.h).
layout(push_constant) uniform Push {
	uint K;        // elements per row of W and X
	uint M;        // rows of W in this dispatch (outputs per row of Y)
	uint N;        // rows of X and Y in this dispatch
	uint w_off, w_stride; // units (floats, halves or blocks)
	uint x_off, x_stride; // floats
	uint y_off, y_stride;
	uint b_off;
	uint r_off, r_stride;
	uint flags;    // MM_BIAS | MM_RESIDUAL | act << MM_ACT_SHIFT
} pc;
