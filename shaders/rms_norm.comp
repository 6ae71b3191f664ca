#version 450
// shaders/rms_norm.comp — y = x / sqrt(mean(x^2) + eps) * w, one workgroup
// per row (LFM2's RMSNorm; the weight is applied as stored).
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

layout(local_size_x_id = 0) in;

// Mirror of struct gpu_push_rms_norm (vk/push.h).
layout(push_constant) uniform Push {
	uint ne0;
	uint nrows;
	uint x_off;
	uint x_stride;
	uint w_off;
	uint y_off;
	uint y_stride;
	float eps;
} pc;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Wt { float w[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

shared float red[gl_WorkGroupSize.x];

void main()
{
	const uint row = gl_WorkGroupID.x;
	const uint tid = gl_LocalInvocationID.x;
	const uint xr = pc.x_off + row * pc.x_stride;
	const uint yr = pc.y_off + row * pc.y_stride;

	float ss = 0.0;
	for (uint i = tid; i < pc.ne0; i += gl_WorkGroupSize.x)
		ss += x[xr + i] * x[xr + i];
	ss = subgroupAdd(ss);
	if (subgroupElect())
		red[gl_SubgroupID] = ss;
	barrier();
	float total = 0.0;
	for (uint g = 0; g < gl_NumSubgroups; g++)
		total += red[g];
	const float scale = 1.0 / sqrt(total / float(pc.ne0) + pc.eps);

	for (uint i = tid; i < pc.ne0; i += gl_WorkGroupSize.x)
		y[yr + i] = x[xr + i] * scale * w[pc.w_off + i];
}
