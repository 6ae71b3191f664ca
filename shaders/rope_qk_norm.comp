#version 450
// shaders/rope_qk_norm.comp — LFM2 attention input (spec §3.6): per head,
// RMSNorm with the shared [hd] weight, then NeoX RoPE (pairs (i, i + hd/2))
// at the token's position; q in place, k into the K cache; v copied to the
// V cache. One workgroup per (head, token): heads 0..n_head−1 are q, the
// next n_kv are k, the last n_kv are v.
// The cache type is a build define: KV_F16 (rounded per element), KV_Q8_0 or
// KV_Q4_0 (ggml blocks of 32 along the row, shaders/types.glsl; hd is a
// multiple of 32 so a block never spans two heads), quantized as
// model/quant.c's reference quantizers do.
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_8bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_shader_explicit_arithmetic_types_int8 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_GOOGLE_include_directive : require

#include "types.glsl"

layout(local_size_x_id = 0) in;

#define HD_MAX 256

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
	uint kc_off, kc_stride; // cache units (halves or blocks); row stride of both caches
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
#if defined(KV_F16)
layout(std430, binding = 6) writeonly buffer KC { float16_t kc[]; };
layout(std430, binding = 7) writeonly buffer VC { float16_t vc[]; };
#elif defined(KV_Q8_0)
layout(std430, binding = 6) writeonly buffer KC { block_q8_0 kc[]; };
layout(std430, binding = 7) writeonly buffer VC { block_q8_0 vc[]; };
#elif defined(KV_Q4_0)
layout(std430, binding = 6) writeonly buffer KC { block_q4_0 kc[]; };
layout(std430, binding = 7) writeonly buffer VC { block_q4_0 vc[]; };
#else
#error "KV_F16, KV_Q8_0 or KV_Q4_0"
#endif

shared float red[gl_WorkGroupSize.x];
#if !defined(KV_F16)
shared float val[HD_MAX];      // the head's values, normed and rotated (k) or raw (v)
shared float inv_d[HD_MAX / 32]; // per block: 1/d (0 for an all-zero block)

// x rounded to the nearest integer, ties away from zero (C roundf), exactly.
int round_away(float x)
{
	const float r = trunc(x);
	return int(abs(x - r) >= 0.5 ? r + sign(x) : r);
}

// Quantize val[0 .. hd) into the head's blocks starting at block b0 of the
// K (is_k) or V cache. Every invocation of the workgroup calls this.
void store_blocks(bool is_k, uint b0)
{
	const uint tid = gl_LocalInvocationID.x;
	const uint nb = pc.hd / 32u;
	barrier(); // val complete
	for (uint b = tid; b < nb; b += gl_WorkGroupSize.x) {
#if defined(KV_Q8_0)
		float amax = 0.0;
		for (uint e = 0; e < 32u; e++)
			amax = max(amax, abs(val[32u * b + e]));
		const float d = amax / 127.0;
#else
		// the element of largest magnitude, the first one on ties, with its sign
		float amax = 0.0, mx = 0.0;
		for (uint e = 0; e < 32u; e++) {
			const float x = val[32u * b + e];
			if (amax < abs(x)) {
				amax = abs(x);
				mx = x;
			}
		}
		const float d = mx / -8.0;
#endif
		inv_d[b] = d != 0.0 ? 1.0 / d : 0.0;
		if (is_k)
			kc[b0 + b].d = float16_t(d);
		else
			vc[b0 + b].d = float16_t(d);
	}
	barrier();
#if defined(KV_Q8_0)
	for (uint e = tid; e < pc.hd; e += gl_WorkGroupSize.x) {
		precise float xs = val[e] * inv_d[e / 32u];
		const int8_t qv = int8_t(round_away(xs));
		if (is_k)
			kc[b0 + e / 32u].qs[e % 32u] = qv;
		else
			vc[b0 + e / 32u].qs[e % 32u] = qv;
	}
#else
	// byte j of a block: element j (low nibble) and j + 16 (high nibble)
	for (uint e = tid; e < pc.hd / 2u; e += gl_WorkGroupSize.x) {
		const uint b = e / 16u, jj = e % 16u;
		precise float x0 = val[32u * b + jj] * inv_d[b];
		precise float x1 = val[32u * b + jj + 16u] * inv_d[b];
		precise float y0 = x0 + 8.5;
		precise float y1 = x1 + 8.5;
		const uint q0 = uint(min(int(y0), 15)), q1 = uint(min(int(y1), 15));
		const uint8_t byte = uint8_t(q0 | (q1 << 4));
		if (is_k)
			kc[b0 + b].qs[jj] = byte;
		else
			vc[b0 + b].qs[jj] = byte;
	}
#endif
}
#endif

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
#if defined(KV_F16)
		const uint cb = crow - pc.kc_off + pc.vc_off + g * pc.hd;
		for (uint i = tid; i < pc.hd; i += gl_WorkGroupSize.x)
			vc[cb + i] = float16_t(v[vb + i]);
#else
		for (uint i = tid; i < pc.hd; i += gl_WorkGroupSize.x)
			val[i] = v[vb + i];
		store_blocks(false, crow - pc.kc_off + pc.vc_off + g * (pc.hd / 32u));
#endif
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
#if defined(KV_F16)
			kc[crow + g * pc.hd + i] = float16_t(ra);
			kc[crow + g * pc.hd + i + half_] = float16_t(rb);
#else
			val[i] = ra;
			val[i + half_] = rb;
#endif
		}
	}
#if !defined(KV_F16)
	if (!is_q && cache_ok) // uniform: the whole workgroup quantizes k
		store_blocks(true, crow + g * (pc.hd / 32u));
#endif
}
