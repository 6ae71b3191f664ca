#version 450
// shaders/attention.comp — causal GQA attention over the KV cache (spec
// §3.6), the cache F16, Q8_0 or Q4_0 (-DKV_F16 / KV_Q8_0 / KV_Q4_0; ggml
// block layouts, shaders/types.glsl). One workgroup per (query head, piece
// of the key range, token of a sequence, sequence): the query at position
// n_past + i of its sequence sees cache rows 0 .. n_past + i of its slot.
//
// Inside a workgroup, hd/32 lanes share a key (a lane owns 32 elements of
// the head: one quant block, or 64 bytes of F16 read as four 16-byte
// loads); the workgroup's key groups walk the keys in a stride, each with
// its own online softmax in f32 (running max m and sum l, the output
// rescaled by e^(m_old − m_new)), so the loop has no barrier; the groups
// are merged through shared memory at the end.
//
// Flash-decoding: with few sequences the keys are split into n_split pieces
// (workgroups), each writing its unnormalized output with its max and sum
// to `part`; the -DMERGE variant then combines the pieces per (head, token).
// n_split 1 writes the output directly.
// Workgroups: x = head + n_head · piece, y = token within its sequence,
// z = sequence (MERGE: x = head).
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;

#ifdef MERGE
#define KV_F16 // the cache is not read; any layout declares the bindings
#endif

#define HD_MAX 256
#define CHUNK 32  // head elements per lane (hd is 32 · a power of two, at most 256)
#define PAD 33    // shared row stride: CHUNK + 1 keeps the lanes' rows in distinct banks

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
	uint kc_off, kc_stride; // cache units (halves or blocks); row stride of both caches
	uint vc_off;
	uint seqs_off;          // ints; 4 per sequence: tok0, n_tok, slot, n_past
	uint o_off, o_stride;
	float scale;
	uint n_split;           // pieces of the key range; 1: out written here
	uint split_keys;        // keys per piece
	uint part_off;          // floats; [(t · n_head + h) · n_split + piece][hd + 2]
} pc;

layout(std430, binding = 0) readonly buffer Q { float q[]; };
#if defined(KV_F16)
layout(std430, binding = 1) readonly buffer KC { uvec4 kc[]; }; // 8 halves each
layout(std430, binding = 2) readonly buffer VC { uvec4 vc[]; };
#else
// Blocks (18 or 34 bytes: 2-byte aligned) read as 16-bit words out of
// 32-bit loads, without the Int16 capability.
layout(std430, binding = 1) readonly buffer KC { uint kc[]; };
layout(std430, binding = 2) readonly buffer VC { uint vc[]; };
#define W16(buf, i) ((buf[(i) >> 1] >> (((i) & 1u) << 4)) & 0xffffu)
#endif
layout(std430, binding = 3) readonly buffer Seqs { int seqs[]; };
layout(std430, binding = 4) writeonly buffer O { float o[]; };
#ifdef MERGE
layout(std430, binding = 5) readonly buffer Part { float part[]; };
#else
layout(std430, binding = 5) writeonly buffer Part { float part[]; };
#endif

const float NEG_BIG = -3.0e38; // a finite −∞: exp(NEG_BIG − m) is 0, never NaN

#if !defined(MERGE)
shared float acc_sh[gl_WorkGroupSize.x * PAD];
shared float m_sh[gl_WorkGroupSize.x];
shared float l_sh[gl_WorkGroupSize.x];

// The lane's 32 elements of kv head g of cache row r, as f32 (dequantized
// as model/quant.c does: d · q).
#if defined(KV_F16)
#define LOAD_CHUNK(buf, base_off, r, g, lane, dst)                                        \
	{                                                                                   \
		const uint i0 = (base_off + (r) * pc.kc_stride + (g) * pc.hd + (lane) * CHUNK) / 8u; \
		[[unroll]] for (uint w = 0; w < CHUNK / 8; w++) {                             \
			const uvec4 u = buf[i0 + w];                                        \
			dst[8 * w + 0] = unpackHalf2x16(u.x).x;                             \
			dst[8 * w + 1] = unpackHalf2x16(u.x).y;                             \
			dst[8 * w + 2] = unpackHalf2x16(u.y).x;                             \
			dst[8 * w + 3] = unpackHalf2x16(u.y).y;                             \
			dst[8 * w + 4] = unpackHalf2x16(u.z).x;                             \
			dst[8 * w + 5] = unpackHalf2x16(u.z).y;                             \
			dst[8 * w + 6] = unpackHalf2x16(u.w).x;                             \
			dst[8 * w + 7] = unpackHalf2x16(u.w).y;                             \
		}                                                                           \
	}
#elif defined(KV_Q8_0)
// block_q8_0: d, then 32 int8 (17 16-bit words)
#define LOAD_CHUNK(buf, base_off, r, g, lane, dst)                                        \
	{                                                                                   \
		const uint b0 = (base_off + (r) * pc.kc_stride + ((g) * pc.hd) / 32u + (lane)) * 17u; \
		const float d = unpackHalf2x16(W16(buf, b0)).x;                            \
		[[unroll]] for (uint w = 0; w < 16; w++) {                                    \
			const int x = int(W16(buf, b0 + 1u + w));                           \
			dst[2 * w + 0] = d * float(bitfieldExtract(x, 0, 8));               \
			dst[2 * w + 1] = d * float(bitfieldExtract(x, 8, 8));               \
		}                                                                           \
	}
#elif defined(KV_Q4_0)
// block_q4_0: d, then 16 bytes: low nibbles elements 0..15, high 16..31 (9 16-bit words)
#define LOAD_CHUNK(buf, base_off, r, g, lane, dst)                                        \
	{                                                                                   \
		const uint b0 = (base_off + (r) * pc.kc_stride + ((g) * pc.hd) / 32u + (lane)) * 9u; \
		const float d = unpackHalf2x16(W16(buf, b0)).x;                            \
		[[unroll]] for (uint w = 0; w < 8; w++) {                                     \
			const uint x = W16(buf, b0 + 1u + w);                               \
			dst[2 * w + 0] = d * (float(x & 15u) - 8.0);                        \
			dst[2 * w + 1] = d * (float((x >> 8) & 15u) - 8.0);                 \
			dst[2 * w + 16] = d * (float((x >> 4) & 15u) - 8.0);                \
			dst[2 * w + 17] = d * (float(x >> 12) - 8.0);                       \
		}                                                                           \
	}
#else
#error "KV_F16, KV_Q8_0 or KV_Q4_0"
#endif
#endif

void main()
{
	const uint n_split = max(pc.n_split, 1u);
#ifdef MERGE
	const uint h = gl_WorkGroupID.x;
	const uint piece = 0u;
#else
	const uint h = gl_WorkGroupID.x % pc.n_head;
	const uint piece = gl_WorkGroupID.x / pc.n_head;
#endif
	const uint i = gl_WorkGroupID.y;
	const uint j = gl_WorkGroupID.z;
	const uint tid = gl_LocalInvocationID.x;
	const uint WG = gl_WorkGroupSize.x;
	if (h >= pc.n_head || piece >= n_split || j >= pc.n_seq || pc.hd > HD_MAX)
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
	const uint ob = pc.o_off + t * pc.o_stride + h * pc.hd;
	const uint pb = pc.part_off + (t * pc.n_head + h) * n_split * (pc.hd + 2u);

#ifdef MERGE
	// out = Σ e^(M_s − M) acc_s / Σ e^(M_s − M) L_s over the pieces s.
	float M = NEG_BIG;
	for (uint s = 0; s < n_split; s++)
		M = max(M, part[pb + s * (pc.hd + 2u) + pc.hd]);
	float L = 0.0;
	for (uint s = 0; s < n_split; s++) {
		const uint b = pb + s * (pc.hd + 2u);
		L += part[b + pc.hd + 1u] * exp(part[b + pc.hd] - M);
	}
	for (uint e = tid; e < pc.hd; e += WG) {
		float a = 0.0;
		for (uint s = 0; s < n_split; s++) {
			const uint b = pb + s * (pc.hd + 2u);
			a += part[b + e] * exp(part[b + pc.hd] - M);
		}
		o[ob + e] = a / L;
	}
#else
	const uint n_keys = uint(n_past) + i + 1u;
	const uint k_begin = min(piece * pc.split_keys, n_keys);
	// the last piece takes whatever is left (split_keys comes from the host's max_keys)
	const uint k_end = piece + 1u == n_split ? n_keys : min(k_begin + pc.split_keys, n_keys);
	const uint kv_head = h / pc.group;
	const uint row0 = uint(slot) * pc.n_ctx;
	const uint LPK = pc.hd / CHUNK;       // lanes per key: 1, 2, 4 or 8
	const uint lane = tid % LPK, kg = tid / LPK, KG = WG / LPK;

	float qv[CHUNK], acc[CHUNK], kd[CHUNK], vd[CHUNK];
	const uint qb = pc.q_off + t * pc.q_stride + h * pc.hd + lane * CHUNK;
	[[unroll]] for (uint e = 0; e < CHUNK; e++) {
		qv[e] = q[qb + e] * pc.scale;
		acc[e] = 0.0;
	}
	float m = NEG_BIG, l = 0.0;
	for (uint key = k_begin + kg; key < k_end; key += KG) {
		const uint r = row0 + key;
		LOAD_CHUNK(kc, pc.kc_off, r, kv_head, lane, kd)
		LOAD_CHUNK(vc, pc.vc_off, r, kv_head, lane, vd)
		float s = 0.0;
		[[unroll]] for (uint e = 0; e < CHUNK; e++)
			s += qv[e] * kd[e];
		// The key's lanes are neighbours in one subgroup (LPK ≤ 8 ≤ its size);
		// the butterfly leaves every one of them the same sum.
		for (uint x = 1u; x < LPK; x <<= 1)
			s += subgroupShuffleXor(s, x);
		const float m_new = max(m, s);
		const float alpha = exp(m - m_new);
		const float p = exp(s - m_new);
		l = l * alpha + p;
		m = m_new;
		[[unroll]] for (uint e = 0; e < CHUNK; e++)
			acc[e] = acc[e] * alpha + p * vd[e];
	}

	// Merge the key groups: rescale each to the workgroup's max.
	if (lane == 0u) {
		m_sh[kg] = m;
		l_sh[kg] = l;
	}
	barrier();
	float M = NEG_BIG;
	for (uint g = 0; g < KG; g++)
		M = max(M, m_sh[g]);
	const float sc = exp(m - M);
	[[unroll]] for (uint e = 0; e < CHUNK; e++)
		acc_sh[tid * PAD + e] = acc[e] * sc;
	float L = 0.0;
	for (uint g = 0; g < KG; g++)
		L += l_sh[g] * exp(m_sh[g] - M);
	barrier();
	for (uint e = tid; e < pc.hd; e += WG) {
		// element e is lane e / CHUNK's element e % CHUNK in every key group
		const uint a0 = (e / CHUNK) * PAD + e % CHUNK;
		float a = 0.0;
		for (uint g = 0; g < KG; g++)
			a += acc_sh[g * LPK * PAD + a0];
		if (n_split == 1u)
			o[ob + e] = a / L;
		else
			part[pb + piece * (pc.hd + 2u) + e] = a;
	}
	if (n_split > 1u && tid == 0u) {
		part[pb + piece * (pc.hd + 2u) + pc.hd] = M;
		part[pb + piece * (pc.hd + 2u) + pc.hd + 1u] = L;
	}
#endif
}
