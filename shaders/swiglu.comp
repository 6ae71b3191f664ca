#version 450
// shaders/swiglu.comp — y = silu(gate) ⊙ up (spec §3.7), row by row; y may
// be gate or up (each element is read and written by one invocation).
// Workgroups: x over the row, y over the rows.

layout(local_size_x_id = 0) in;

// Mirror of struct gpu_push_swiglu (vk/push_lm.h).
layout(push_constant) uniform Push {
	uint ne0;
	uint nrows;
	uint g_off;
	uint g_stride;
	uint u_off;
	uint u_stride;
	uint y_off;
	uint y_stride;
} pc;

layout(std430, binding = 0) readonly buffer G { float g[]; };
layout(std430, binding = 1) readonly buffer U { float u[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

void main()
{
	const uint i = gl_GlobalInvocationID.x;
	const uint r = gl_WorkGroupID.y;
	if (i >= pc.ne0 || r >= pc.nrows)
		return;
	const float a = g[pc.g_off + r * pc.g_stride + i];
	// a / (1 + e^-a): for a → −∞ the quotient goes to −0, never NaN.
	y[pc.y_off + r * pc.y_stride + i] = a / (1.0 + exp(-a)) * u[pc.u_off + r * pc.u_stride + i];
}
