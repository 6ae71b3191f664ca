#version 450
// shaders/attn_enc_cm.comp — attn_enc.comp on tensor cores through
// GL_NV_cooperative_matrix (flash-attention style): bidirectional
// multi-head attention, o_i = Σ_j softmax_j(scale·q_i·k_j) v_j per head.
//
// A workgroup of 4 subgroups of 32 takes QT = 64 queries of one head of one
// segment (workgroup z: rows [seg[z], seg[z+1]) of the batch when SEGS is
// set, so every crop of a batch goes in one dispatch and attends only to
// itself); subgroup s owns queries 16s .. 16s+15. Keys and values are
// walked in blocks of KB = 32 through shared memory as f16:
//   S = Q·Kᵀ       2 fragments 16×16 (f16 in, f32 accumulate)
//   softmax        online, base 2 (Q is pre-scaled by scale·log2 e), on S
//                  stored to shared memory: two lanes per query row
//   O = O·α + P·V  hd/16 accumulator fragments held for the whole walk
// The per-row rescale α and the final 1/l are applied element-wise on the
// accumulators: a fragment loaded from a table of row indices tells each
// lane the row of each element it holds (the element-to-lane mapping is the
// implementation's, the same for every fragment of one type).
// The head dimension is padded with zeros to hdp (a multiple of 16, ≤ 128:
// hd 72 runs as 80). Built only when glslang compiles the extension; used
// only on devices with VK_NV_cooperative_matrix and subgroup size 32.
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_NV_cooperative_matrix : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x = 128) in;

#define QT 64      // queries per workgroup
#define KB 32      // keys per block
#define MAX_HDP 128
#define LD (MAX_HDP + 8) // halves per shared row of Q, K, V: rows hit distinct banks
#define LP (KB + 8)      // halves per shared row of P

// Mirror of struct gpu_push_attn_enc (vk/push.h).
layout(push_constant) uniform Push {
	uint n;        // rows of q, k, v, o (queries = keys without SEGS)
	uint hd;       // head dim
	uint q_off, q_stride;
	uint k_off, k_stride;
	uint v_off, v_stride;
	uint o_off, o_stride;
	uint s_off;    // first entry of this dispatch's segment table
	uint flags;    // SEGS: segments from binding 4
	float scale;
} pc;

#define SEGS 1u

layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer K { float k[]; };
layout(std430, binding = 2) readonly buffer V { float v[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };
layout(std430, binding = 4) readonly buffer S { uint seg[]; };

shared float16_t qs[QT * LD];     // [query][d], pre-scaled
shared float16_t ks[KB * LD];     // [key][d]
shared float16_t vs[KB * LD];     // [key][d]
shared float ss[4 * 16 * KB];     // per subgroup: S [16][KB]; staging at the end
shared float16_t ps[4 * 16 * LP]; // per subgroup: P [16][KB]
shared float rs[4 * 16];          // per subgroup and row: α, then 1/l

#define FA fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define FC fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>

const float NEG = -1.0e30; // finite: exp2(NEG - m) is 0, never NaN
const float LOG2E = 1.4426950408889634;

// Rows [r0, r0 + nr) of a head's slice of x (f32, offset xo, stride xs)
// into dst as f16 [row][LD], zero past nrow valid rows and past hd. The
// 16-byte path when hd, offsets and strides are multiples of 4.
#define LOAD_ROWS(dst, src, xo, xs, nrow, nr, mul)                                  \
	{                                                                           \
		const uint h4 = hdp / 4;                                            \
		for (uint e = gl_LocalInvocationID.x; e < (nr) * h4; e += 128) {    \
			const uint r = e / h4, d = (e % h4) * 4;                    \
			vec4 val = vec4(0.0);                                       \
			if (r < (nrow)) {                                           \
				const uint b = (xo) + r * (xs) + h0 + d;            \
				[[unroll]] for (uint j = 0; j < 4; j++)             \
					if (d + j < hd)                             \
						val[j] = src[b + j];                \
			}                                                           \
			val *= (mul);                                               \
			const uint t = r * LD + d;                                  \
			dst[t] = float16_t(val.x);                                  \
			dst[t + 1] = float16_t(val.y);                              \
			dst[t + 2] = float16_t(val.z);                              \
			dst[t + 3] = float16_t(val.w);                              \
		}                                                                   \
	}

void main()
{
	uint base = 0, n = pc.n;
	if ((pc.flags & SEGS) != 0u) { // clamped to the n rows bound
		base = min(seg[pc.s_off + gl_WorkGroupID.z], pc.n);
		n = min(seg[pc.s_off + gl_WorkGroupID.z + 1], pc.n);
		n = n > base ? n - base : 0;
	}
	const uint q0 = gl_WorkGroupID.x * QT;
	if (q0 >= n)
		return; // uniform: the whole workgroup
	const uint hd = pc.hd, hdp = (hd + 15) / 16 * 16, nf = hdp / 16;
	const uint h0 = gl_WorkGroupID.y * hd;
	const uint sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;
	const uint qo = pc.q_off + (base + q0) * pc.q_stride;
	const uint ko = pc.k_off + base * pc.k_stride, vo = pc.v_off + base * pc.v_stride;

	// Row of each accumulator element this lane holds: a fragment loaded
	// from rows of constant value r (through ss before its first use).
	for (uint e = gl_LocalInvocationID.x; e < 256; e += 128)
		ss[e] = float(e / 16);
	LOAD_ROWS(qs, q, qo, pc.q_stride, min(n - q0, QT), QT, pc.scale * LOG2E);
	barrier();
	FC rid;
	coopMatLoadNV(rid, ss, 0, 16, false);

	FC o0 = FC(0.0), o1 = FC(0.0), o2 = FC(0.0), o3 = FC(0.0);
	FC o4 = FC(0.0), o5 = FC(0.0), o6 = FC(0.0), o7 = FC(0.0);
	// softmax state of row lane/2, the same in both lanes of the row
	float m = NEG, l = 0.0;
	const uint row = lane / 2, c0 = (lane % 2) * (KB / 2);
	const uint sbase = sg * 16 * KB, pbase = sg * 16 * LP, qa = sg * 16 * LD;

	for (uint j0 = 0; j0 < n; j0 += KB) {
		const uint nk = min(n - j0, KB);
		barrier(); // every subgroup is done with the previous block (and rid's ss)
		LOAD_ROWS(ks, k, ko + j0 * pc.k_stride, pc.k_stride, nk, KB, 1.0);
		LOAD_ROWS(vs, v, vo + j0 * pc.v_stride, pc.v_stride, nk, KB, 1.0);
		barrier();

		FC s0 = FC(0.0), s1 = FC(0.0);
		for (uint f = 0; f < nf; f++) {
			FA a, b0, b1;
			coopMatLoadNV(a, qs, qa + f * 16, LD, false);
			coopMatLoadNV(b0, ks, f * 16, LD, true);       // Kᵀ: keys 0..15
			coopMatLoadNV(b1, ks, 16 * LD + f * 16, LD, true); // keys 16..31
			s0 = coopMatMulAddNV(a, b0, s0);
			s1 = coopMatMulAddNV(a, b1, s1);
		}
		coopMatStoreNV(s0, ss, sbase, KB, false);
		coopMatStoreNV(s1, ss, sbase + 16, KB, false);
		subgroupMemoryBarrierShared();
		subgroupBarrier();

		// Online softmax: lanes 2r and 2r+1 share row r, 16 keys each.
		float mx = NEG;
		[[unroll]] for (uint c = 0; c < KB / 2; c++)
			if (c0 + c < nk)
				mx = max(mx, ss[sbase + row * KB + c0 + c]);
		mx = max(mx, subgroupShuffleXor(mx, 1));
		const float mn = max(m, mx);
		float sum = 0.0;
		[[unroll]] for (uint c = 0; c < KB / 2; c++) {
			const float p = c0 + c < nk ? exp2(ss[sbase + row * KB + c0 + c] - mn) : 0.0;
			const float16_t ph = float16_t(p);
			ps[pbase + row * LP + c0 + c] = ph;
			sum += float(ph); // the sum of what P·V sees
		}
		sum += subgroupShuffleXor(sum, 1);
		const float alpha = exp2(m - mn);
		l = l * alpha + sum;
		m = mn;
		if (lane % 2 == 0)
			rs[sg * 16 + row] = alpha;
		subgroupMemoryBarrierShared();
		subgroupBarrier();

		float al[8]; // α of each element's row (an accumulator holds 8 per lane at most)
		[[unroll]] for (uint e = 0; e < 8; e++)
			al[e] = e < rid.length() ? rs[sg * 16 + uint(rid[e])] : 0.0;
		FA p0, p1;
		coopMatLoadNV(p0, ps, pbase, LP, false);
		coopMatLoadNV(p1, ps, pbase + 16, LP, false);
#define PV(i, acc)                                                                      \
		if (i < nf) {                                                           \
			FA b0, b1;                                                      \
			[[unroll]] for (uint e = 0; e < acc.length(); e++)              \
				acc[e] *= al[e];                                        \
			coopMatLoadNV(b0, vs, i * 16, LD, false);                       \
			coopMatLoadNV(b1, vs, 16 * LD + i * 16, LD, false);             \
			acc = coopMatMulAddNV(p0, b0, acc);                             \
			acc = coopMatMulAddNV(p1, b1, acc);                             \
		}
		PV(0, o0) PV(1, o1) PV(2, o2) PV(3, o3) PV(4, o4) PV(5, o5) PV(6, o6) PV(7, o7)
#undef PV
	}

	// 1/l per row, then each fragment through the subgroup's staging.
	if (lane % 2 == 0)
		rs[sg * 16 + row] = 1.0 / l;
	subgroupMemoryBarrierShared();
	subgroupBarrier();
	float il[8];
	[[unroll]] for (uint e = 0; e < 8; e++)
		il[e] = e < rid.length() ? rs[sg * 16 + uint(rid[e])] : 0.0;
	const uint oo = pc.o_off + (base + q0 + sg * 16) * pc.o_stride + h0;
	const uint nq = min(n - q0, QT), r0 = sg * 16;
#define OUT(i, acc)                                                                     \
	if (i < nf) {                                                                   \
		[[unroll]] for (uint e = 0; e < acc.length(); e++)                      \
			acc[e] *= il[e];                                                \
		coopMatStoreNV(acc, ss, sbase, 16, false);                              \
		subgroupMemoryBarrierShared();                                          \
		subgroupBarrier();                                                      \
		for (uint e = lane; e < 256; e += 32) {                                 \
			const uint r = e / 16, d = i * 16 + e % 16;                     \
			if (r0 + r < nq && d < hd)                                      \
				o[oo + r * pc.o_stride + d] = ss[sbase + e];            \
		}                                                                       \
		subgroupBarrier();                                                      \
	}
	OUT(0, o0) OUT(1, o1) OUT(2, o2) OUT(3, o3) OUT(4, o4) OUT(5, o5) OUT(6, o6) OUT(7, o7)
#undef OUT
}
