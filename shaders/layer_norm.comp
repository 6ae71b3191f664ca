#version 450
// shaders/layer_norm.comp — y = (x − μ)/sqrt(σ² + eps)·w + b per row (the
// SigLIP LayerNorm and the projector's), μ and the population σ² in f32,
// σ² from a second pass over x − μ. One workgroup per row; y may be x.
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
} pc;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Wt { float w[]; };
layout(std430, binding = 2) readonly buffer Bt { float b[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };

shared float red_mean[gl_WorkGroupSize.x];
shared float red_var[gl_WorkGroupSize.x];

void main()
{
	const uint row = gl_WorkGroupID.x;
	const uint tid = gl_LocalInvocationID.x;
	const uint xr = pc.x_off + row * pc.x_stride;
	const uint yr = pc.y_off + row * pc.y_stride;

	float s = 0.0;
	for (uint i = tid; i < pc.ne0; i += gl_WorkGroupSize.x)
		s += x[xr + i];
	s = subgroupAdd(s);
	if (subgroupElect())
		red_mean[gl_SubgroupID] = s;
	barrier();
	float total = 0.0;
	for (uint g = 0; g < gl_NumSubgroups; g++)
		total += red_mean[g];
	const float mean = total / float(pc.ne0);

	float v = 0.0;
	for (uint i = tid; i < pc.ne0; i += gl_WorkGroupSize.x) {
		const float d = x[xr + i] - mean;
		v += d * d;
	}
	v = subgroupAdd(v);
	if (subgroupElect())
		red_var[gl_SubgroupID] = v;
	barrier();
	float var = 0.0;
	for (uint g = 0; g < gl_NumSubgroups; g++)
		var += red_var[g];
	const float scale = 1.0 / sqrt(var / float(pc.ne0) + pc.eps);

	for (uint i = tid; i < pc.ne0; i += gl_WorkGroupSize.x)
		y[yr + i] = (x[xr + i] - mean) * scale * w[pc.w_off + i] + b[pc.b_off + i];
}
