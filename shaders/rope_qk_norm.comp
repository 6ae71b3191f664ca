#version 450
// shaders/rope_qk_norm.comp — LFM2 attention input (spec §3.6): per head,
// RMSNorm with the shared [hd] weight, then NeoX RoPE (pairs (i, i + hd/2))
// at the token's position; q in place, k into the F16 K cache; v copied to
// the F16 V cache. One workgroup per (head, token): heads 0..n_head−1 are q,
// the next n_kv are k, the last n_kv are v.
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

layout(local_size_x_id = 0) in;

// Mirror of struct gpu_push_rope_qk_norm (vk/push_lm.h).
layout(push_constant) uniform Push {
	uint hd;
	uint n_head;
	uint n_kv;
	uint n_tok;
	uint n_slots;
	uint n_ctx;
	uint q_off, q_stride;
	uint k_off, k_stride;
	uint v_off, v_stride;
	uint qn_off, kn_off;
	uint toks_off;          // ints; 2 per token: pos, slot
	uint kc_off, kc_stride; // halves; row stride of both caches
	uint vc_off;
	float eps;
	float theta;
} pc;

layout(std430, binding = 0) buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer K { float k[]; };
layout(std430, binding = 2) readonly buffer V { float v[]; };
layout(std430, binding = 3) readonly buffer QN { float qn[]; };
layout(std430, binding = 4) readonly buffer KN { float kn[]; };
layout(std430, binding = 5) readonly buffer Toks { int toks[]; };
layout(std430, binding = 6) writeonly buffer KC { float16_t kc[]; };
layout(std430, binding = 7) writeonly buffer VC { float16_t vc[]; };

shared float red[gl_WorkGroupSize.x];

void main()
{
	const uint h = gl_WorkGroupID.x;
	const uint t = gl_WorkGroupID.y;
	const uint tid = gl_LocalInvocationID.x;
	const int pos = toks[pc.toks_off + 2u * t];
	const int slot = toks[pc.toks_off + 2u * t + 1u];
	const bool cache_ok = pos >= 0 && uint(pos) < pc.n_ctx && slot >= 0 && uint(slot) < pc.n_slots;
	const uint crow = pc.kc_off + (uint(slot) * pc.n_ctx + uint(pos)) * pc.kc_stride;

	if (h >= pc.n_head + pc.n_kv) { // v: copy to the cache
		const uint g = h - pc.n_head - pc.n_kv;
		if (!cache_ok)
			return;
		const uint vb = pc.v_off + t * pc.v_stride + g * pc.hd;
		const uint cb = crow - pc.kc_off + pc.vc_off + g * pc.hd;
		for (uint i = tid; i < pc.hd; i += gl_WorkGroupSize.x)
			vc[cb + i] = float16_t(v[vb + i]);
		return;
	}
	const bool is_q = h < pc.n_head;
	const uint g = is_q ? h : h - pc.n_head;
	const uint xb = is_q ? pc.q_off + t * pc.q_stride + g * pc.hd
			     : pc.k_off + t * pc.k_stride + g * pc.hd;
	const uint wb = is_q ? pc.qn_off : pc.kn_off;

	float ss = 0.0;
	for (uint i = tid; i < pc.hd; i += gl_WorkGroupSize.x) {
		const float x = is_q ? q[xb + i] : k[xb + i];
		ss += x * x;
	}
	ss = subgroupAdd(ss);
	if (subgroupElect())
		red[gl_SubgroupID] = ss;
	barrier();
	float total = 0.0;
	for (uint s = 0; s < gl_NumSubgroups; s++)
		total += red[s];
	const float scale = 1.0 / sqrt(total / float(pc.hd) + pc.eps);

	// Each invocation owns whole pairs (i, i + half): reads before writes.
	const uint half_ = pc.hd / 2u;
	for (uint i = tid; i < half_; i += gl_WorkGroupSize.x) {
		float a, b;
		if (is_q) {
			a = q[xb + i];
			b = q[xb + i + half_];
		} else {
			a = k[xb + i];
			b = k[xb + i + half_];
		}
		a = a * scale * (is_q ? qn[wb + i] : kn[wb + i]);
		b = b * scale * (is_q ? qn[wb + i + half_] : kn[wb + i + half_]);
		// As HF: inv_freq = 1 / base^(2i/hd) and pos · inv_freq in f32.
		const float inv_freq = 1.0 / pow(pc.theta, float(2u * i) / float(pc.hd));
		const float ang = float(pos) * inv_freq;
		const float c = cos(ang), s = sin(ang);
		const float ra = a * c - b * s, rb = b * c + a * s;
		if (is_q) {
			q[xb + i] = ra;
			q[xb + i + half_] = rb;
		} else if (cache_ok) {
			kc[crow + g * pc.hd + i] = float16_t(ra);
			kc[crow + g * pc.hd + i + half_] = float16_t(rb);
		}
	}
}
