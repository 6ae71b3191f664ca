#version 450
// shaders/add.comp — c = a + b row by row; b_stride 0 adds one row of b to
// every row of a. Workgroups: x over the row, y over the rows.

layout(local_size_x_id = 0) in;

// Mirror of struct gpu_push_add (vk/push.h).
layout(push_constant) uniform Push {
	uint ne0;
	uint nrows;
	uint a_off;
	uint a_stride;
	uint b_off;
	uint b_stride;
	uint c_off;
	uint c_stride;
} pc;

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer C { float c[]; };

void main()
{
	const uint i = gl_GlobalInvocationID.x;
	const uint r = gl_WorkGroupID.y;
	if (i >= pc.ne0 || r >= pc.nrows)
		return;
	c[pc.c_off + r * pc.c_stride + i] = a[pc.a_off + r * pc.a_stride + i] +
					    b[pc.b_off + r * pc.b_stride + i];
}
