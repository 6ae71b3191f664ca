#version 450
// shaders/layer_norm.comp — y = (x − μ)/sqrt(σ² + eps)·w + b per row (the
// SigLIP LayerNorm and the projector's), μ and the population σ² in f32,
// σ² from a second pass over x − μ. One subgroup per row, rows_per_wg rows
// per workgroup (a subgroup takes every gl_NumSubgroups-th of them, so any
// subgroup size covers them): no shared memory, no barrier. y may be x.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

layout(local_size_x_id = 0) in;

// Mirror of struct gpu_push_layer_norm (vk/push.h).
layout(push_constant) uniform Push {
	uint ne0;
	uint nrows;
	uint x_off;
	uint x_stride;
	uint w_off;
	uint b_off;
	uint y_off;
	uint y_stride;
	float eps;
	uint rows_per_wg;
} pc;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Wt { float w[]; };
layout(std430, binding = 2) readonly buffer Bt { float b[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };

void main()
{
	const uint lane = gl_SubgroupInvocationID, ns = gl_SubgroupSize;
	for (uint i = gl_SubgroupID; i < pc.rows_per_wg; i += gl_NumSubgroups) {
		const uint row = gl_WorkGroupID.x * pc.rows_per_wg + i;
		if (row >= pc.nrows)
			break; // uniform in the subgroup
		const uint xr = pc.x_off + row * pc.x_stride;
		const uint yr = pc.y_off + row * pc.y_stride;
		float s = 0.0;
		for (uint e = lane; e < pc.ne0; e += ns)
			s += x[xr + e];
		const float mean = subgroupAdd(s) / float(pc.ne0);
		float v = 0.0;
		for (uint e = lane; e < pc.ne0; e += ns) {
			const float d = x[xr + e] - mean;
			v += d * d;
		}
		const float scale = 1.0 / sqrt(subgroupAdd(v) / float(pc.ne0) + pc.eps);
		for (uint e = lane; e < pc.ne0; e += ns)
			y[yr + e] = (x[xr + e] - mean) * scale * w[pc.w_off + e] + b[pc.b_off + e];
	}
}
