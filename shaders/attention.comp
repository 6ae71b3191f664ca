#version 450
// shaders/attention.comp — causal GQA attention over the F16 KV cache (spec
// §3.6). One workgroup per (query head, token of a sequence, sequence): the
// query at position n_past + i of its sequence sees cache rows
// 0 .. n_past + i of its slot. The cache is walked in tiles of one key per
// invocation with an online softmax in f32 (running max m and sum l; the
// output is rescaled by e^(m_old − m_new) when the max grows), so any
// length works in one pass and nothing overflows.
// Workgroups: x = query head, y = token within its sequence, z = sequence.
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

layout(local_size_x_id = 0) in;

#define HD_MAX 256

// Mirror of struct gpu_push_attention (vk/push_lm.h).
layout(push_constant) uniform Push {
	uint hd;
	uint n_head;
	uint group;    // query heads per kv head
	uint n_tok;
	uint n_seq;
	uint n_slots;
	uint n_ctx;
	uint q_off, q_stride;
	uint kc_off, kc_stride; // halves; row stride of both caches
	uint vc_off;
	uint seqs_off;          // ints; 4 per sequence: tok0, n_tok, slot, n_past
	uint o_off, o_stride;
	float scale;
} pc;

layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer KC { float16_t kc[]; };
layout(std430, binding = 2) readonly buffer VC { float16_t vc[]; };
layout(std430, binding = 3) readonly buffer Seqs { int seqs[]; };
layout(std430, binding = 4) writeonly buffer O { float o[]; };

shared float q_sh[HD_MAX];
shared float acc_sh[HD_MAX];
shared float p_sh[gl_WorkGroupSize.x];
shared float red_max[gl_WorkGroupSize.x];
shared float red_sum[gl_WorkGroupSize.x];

const float NEG_BIG = -3.0e38; // a finite −∞: exp(NEG_BIG − m) is 0, never NaN

void main()
{
	const uint h = gl_WorkGroupID.x;
	const uint i = gl_WorkGroupID.y;
	const uint j = gl_WorkGroupID.z;
	const uint tid = gl_LocalInvocationID.x;
	const uint WG = gl_WorkGroupSize.x;
	if (h >= pc.n_head || j >= pc.n_seq || pc.hd > HD_MAX)
		return;
	const int tok0 = seqs[pc.seqs_off + 4u * j];
	const int nt = seqs[pc.seqs_off + 4u * j + 1u];
	const int slot = seqs[pc.seqs_off + 4u * j + 2u];
	const int n_past = seqs[pc.seqs_off + 4u * j + 3u];
	// The whole workgroup leaves together (all values are uniform).
	if (tok0 < 0 || nt <= 0 || slot < 0 || n_past < 0 || uint(slot) >= pc.n_slots ||
	    uint(nt) > pc.n_tok - min(uint(tok0), pc.n_tok) ||
	    uint(n_past) > pc.n_ctx - min(uint(nt), pc.n_ctx) || i >= uint(nt))
		return;
	const uint t = uint(tok0) + i;
	const uint n_keys = uint(n_past) + i + 1u;
	const uint kv_head = h / pc.group;
	const uint row0 = uint(slot) * pc.n_ctx;
	const uint qb = pc.q_off + t * pc.q_stride + h * pc.hd;

	for (uint e = tid; e < pc.hd; e += WG) {
		q_sh[e] = q[qb + e] * pc.scale;
		acc_sh[e] = 0.0;
	}
	barrier();

	float m = NEG_BIG, l = 0.0;
	for (uint base = 0; base < n_keys; base += WG) {
		// Scores: one key per invocation.
		const uint tau = base + tid;
		float s = NEG_BIG;
		if (tau < n_keys) {
			const uint kb = pc.kc_off + (row0 + tau) * pc.kc_stride + kv_head * pc.hd;
			s = 0.0;
			for (uint e = 0; e < pc.hd; e++)
				s += q_sh[e] * float(kc[kb + e]);
		}
		float mx = subgroupMax(s);
		if (subgroupElect())
			red_max[gl_SubgroupID] = mx;
		barrier();
		mx = red_max[0];
		for (uint g = 1; g < gl_NumSubgroups; g++)
			mx = max(mx, red_max[g]);
		const float m_new = max(m, mx);
		const float alpha = exp(m - m_new);
		const float p = tau < n_keys ? exp(s - m_new) : 0.0;
		p_sh[tid] = p;
		const float ps = subgroupAdd(p);
		if (subgroupElect())
			red_sum[gl_SubgroupID] = ps;
		barrier();
		float tile_sum = 0.0;
		for (uint g = 0; g < gl_NumSubgroups; g++)
			tile_sum += red_sum[g];
		l = l * alpha + tile_sum;
		m = m_new;
		// Output: one dimension per invocation, over the tile's keys.
		const uint nk = min(WG, n_keys - base);
		for (uint e = tid; e < pc.hd; e += WG) {
			const uint vb = pc.vc_off + (row0 + base) * pc.kc_stride + kv_head * pc.hd + e;
			float a = acc_sh[e] * alpha;
			for (uint u = 0; u < nk; u++)
				a += p_sh[u] * float(vc[vb + u * pc.kc_stride]);
			acc_sh[e] = a;
		}
		barrier(); // p_sh and the reductions are rewritten by the next tile
	}
	const float inv_l = 1.0 / l;
	for (uint e = tid; e < pc.hd; e += WG)
		o[pc.o_off + t * pc.o_stride + h * pc.hd + e] = acc_sh[e] * inv_l;
}
