#version 450
// shaders/attn_enc.comp — bidirectional multi-head attention over the n
// patches of one crop (SigLIP encoder: no mask, no RoPE): for query i and
// head h, o_i = Σ_j softmax_j(scale·q_i·k_j) v_j over dims [h·hd, (h+1)·hd).
// One workgroup per (query, head): the scores of all keys sit in shared
// memory (n ≤ MAX_KEYS), then each invocation sums V for some dims.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

layout(local_size_x_id = 0) in;

#define MAX_KEYS 4096 // 16 KiB of scores; vk/ops_vision.c checks n
#define MAX_HD 128

// Mirror of struct gpu_push_attn_enc (vk/push.h).
layout(push_constant) uniform Push {
	uint n;        // queries = keys
	uint hd;       // head dim
	uint q_off, q_stride;
	uint k_off, k_stride;
	uint v_off, v_stride;
	uint o_off, o_stride;
	float scale;
} pc;

layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer K { float k[]; };
layout(std430, binding = 2) readonly buffer V { float v[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };

shared float sc[MAX_KEYS];
shared float qs[MAX_HD];
shared float red[gl_WorkGroupSize.x];

void main()
{
	const uint i = gl_WorkGroupID.x, h0 = gl_WorkGroupID.y * pc.hd;
	const uint tid = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
	for (uint d = tid; d < pc.hd; d += wg)
		qs[d] = q[pc.q_off + i * pc.q_stride + h0 + d] * pc.scale;
	barrier();

	float mx = -3.402823466e38;
	for (uint j = tid; j < pc.n; j += wg) {
		const uint kb = pc.k_off + j * pc.k_stride + h0;
		float s = 0.0;
		for (uint d = 0; d < pc.hd; d++)
			s += qs[d] * k[kb + d];
		sc[j] = s;
		mx = max(mx, s);
	}
	mx = subgroupMax(mx);
	if (subgroupElect())
		red[gl_SubgroupID] = mx;
	barrier();
	mx = red[0];
	for (uint g = 1; g < gl_NumSubgroups; g++)
		mx = max(mx, red[g]);
	barrier(); // everyone has read red before it is reused

	float sum = 0.0;
	for (uint j = tid; j < pc.n; j += wg) {
		const float p = exp(sc[j] - mx);
		sc[j] = p;
		sum += p;
	}
	sum = subgroupAdd(sum);
	if (subgroupElect())
		red[gl_SubgroupID] = sum;
	barrier();
	sum = 0.0;
	for (uint g = 0; g < gl_NumSubgroups; g++)
		sum += red[g];
	const float inv = 1.0 / sum;

	for (uint d = tid; d < pc.hd; d += wg) {
		float acc = 0.0;
		for (uint j = 0; j < pc.n; j++)
			acc += sc[j] * v[pc.v_off + j * pc.v_stride + h0 + d];
		o[pc.o_off + i * pc.o_stride + h0 + d] = acc * inv;
	}
}
