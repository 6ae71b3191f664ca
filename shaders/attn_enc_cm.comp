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
// The head dimension is padded with zeros to hdp (a multiple of 16, ≤ 96:
// hd 72 runs as 80; the plain kernel takes larger heads). The next block of
// K and V is read from global memory into registers while this one
// multiplies. Softmax lanes walk their 16 columns skewed by the row, so the
// 32 lanes of a step hit 32 banks. Built only when glslang compiles the extension; used
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
#define MAX_HDP 96
#define LD (MAX_HDP + 8) // halves per shared row of Q, K, V: rows hit distinct banks
#define LS (KB + 8)      // floats per shared row of S
#define LP (KB + 8)      // halves per shared row of P
#define NV4 ((KB * MAX_HDP / 4 + 127) / 128) // vec4 of a K (or V) block per invocation

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
layout(std430, binding = 0) readonly buffer Q4 { vec4 q4[]; }; // the same, 16-byte views
layout(std430, binding = 1) readonly buffer K4 { vec4 k4[]; };
layout(std430, binding = 2) readonly buffer V4 { vec4 v4[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };
layout(std430, binding = 4) readonly buffer S { uint seg[]; };

shared float16_t qs[QT * LD];     // [query][d], pre-scaled
shared float16_t ks[KB * LD];     // [key][d]
shared float16_t vs[KB * LD];     // [key][d]
shared float ss[4 * 16 * LS];     // per subgroup: S [16][KB]; staging at the end
shared float16_t ps[4 * 16 * LP]; // per subgroup: P [16][KB]
shared float rs[4 * 16];          // per subgroup and row: α, then 1/l

// Eight statements with literal element indices e = 0..7.
#define E8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define SCALE1(acc, f, e) if (e < ne) acc[e] *= f[e];
#define SCALE(acc, f) SCALE1(acc, f, 0) SCALE1(acc, f, 1) SCALE1(acc, f, 2) SCALE1(acc, f, 3) \
	SCALE1(acc, f, 4) SCALE1(acc, f, 5) SCALE1(acc, f, 6) SCALE1(acc, f, 7)

#define FA fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define FC fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>

const float NEG = -1.0e30; // finite: exp2(NEG - m) is 0, never NaN
const float LOG2E = 1.4426950408889634;

uint hd, hdp, h0;
bool vec; // hd, offsets and strides are multiples of 4: 16-byte loads

// Elements 4e .. 4e+3 of a [rows][hdp] tile of a head's slice (rows from
// xo, stride xs, nrow valid), zero past nrow and past hd.
#define READ4(buf, buf4, xo, xs, nrow, e, dst)                                          \
	{                                                                               \
		const uint h4 = hdp / 4, r = (e) / h4, d = ((e) % h4) * 4;              \
		dst = vec4(0.0);                                                        \
		if (r < (nrow)) {                                                       \
			const uint b = (xo) + r * (xs) + h0 + d;                        \
			if (vec) {                                                      \
				if (d < hd)                                             \
					dst = buf4[b / 4];                              \
			} else {                                                        \
				[[unroll]] for (uint j = 0; j < 4; j++)                 \
					if (d + j < hd)                                 \
						dst[j] = buf[b + j];                    \
			}                                                               \
		}                                                                       \
	}

void write4(uint e, vec4 val, bool is_v)
{
	const uint h4 = hdp / 4, t = (e / h4) * LD + (e % h4) * 4;
	const f16vec4 h = f16vec4(val);
	if (is_v) {
		vs[t] = h.x; vs[t + 1] = h.y; vs[t + 2] = h.z; vs[t + 3] = h.w;
	} else {
		ks[t] = h.x; ks[t + 1] = h.y; ks[t + 2] = h.z; ks[t + 3] = h.w;
	}
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
	hd = pc.hd;
	hdp = (hd + 15) / 16 * 16;
	h0 = gl_WorkGroupID.y * hd;
	vec = hd % 4 == 0 && pc.q_off % 4 == 0 && pc.q_stride % 4 == 0 && pc.k_off % 4 == 0 &&
	      pc.k_stride % 4 == 0 && pc.v_off % 4 == 0 && pc.v_stride % 4 == 0;
	const uint nf = hdp / 16, nkv = KB * hdp / 4;
	const uint sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;
	const uint qo = pc.q_off + (base + q0) * pc.q_stride;
	const uint ko = pc.k_off + base * pc.k_stride, vo = pc.v_off + base * pc.v_stride;

	// Row of each accumulator element this lane holds: a fragment loaded
	// from rows of constant value r (through ss before its first use).
	for (uint e = gl_LocalInvocationID.x; e < 256; e += 128)
		ss[e] = float(e / 16);
	const float qscale = pc.scale * LOG2E;
	for (uint e = gl_LocalInvocationID.x; e < QT * hdp / 4; e += 128) {
		vec4 val;
		READ4(q, q4, qo, pc.q_stride, min(n - q0, QT), e, val);
		const uint t = (e / (hdp / 4)) * LD + (e % (hdp / 4)) * 4;
		const f16vec4 h = f16vec4(val * qscale);
		qs[t] = h.x; qs[t + 1] = h.y; qs[t + 2] = h.z; qs[t + 3] = h.w;
	}
	vec4 kr[NV4], vr[NV4]; // the next block of K and V
	[[unroll]] for (uint i = 0; i < NV4; i++) {
		const uint e = gl_LocalInvocationID.x + 128 * i;
		kr[i] = vr[i] = vec4(0.0);
		if (e < nkv) {
			READ4(k, k4, ko, pc.k_stride, min(n, KB), e, kr[i]);
			READ4(v, v4, vo, pc.v_stride, min(n, KB), e, vr[i]);
		}
	}
	barrier();
	FC rid;
	coopMatLoadNV(rid, ss, 0, 16, false);
	const uint ne = min(uint(rid.length()), 8u); // 8: 256 elements over 32 lanes

	FC o0 = FC(0.0), o1 = FC(0.0), o2 = FC(0.0), o3 = FC(0.0);
	FC o4 = FC(0.0), o5 = FC(0.0);
	// softmax state of row lane % 16, the same in lanes r and r + 16
	float m = NEG, l = 0.0;
	const uint row = lane % 16, c0 = (lane / 16) * (KB / 2);
	const uint sbase = sg * 16 * LS, pbase = sg * 16 * LP, qa = sg * 16 * LD;

	for (uint j0 = 0; j0 < n; j0 += KB) {
		const uint nk = min(n - j0, KB);
		barrier(); // every subgroup is done with the previous block (and rid's ss)
		[[unroll]] for (uint i = 0; i < NV4; i++) {
			const uint e = gl_LocalInvocationID.x + 128 * i;
			if (e < nkv) {
				write4(e, kr[i], false);
				write4(e, vr[i], true);
			}
		}
		barrier();
		if (j0 + KB < n) { // in flight while this block multiplies
			const uint j1 = j0 + KB, nk1 = min(n - j1, KB);
			[[unroll]] for (uint i = 0; i < NV4; i++) {
				const uint e = gl_LocalInvocationID.x + 128 * i;
				if (e < nkv) {
					READ4(k, k4, ko + j1 * pc.k_stride, pc.k_stride, nk1, e, kr[i]);
					READ4(v, v4, vo + j1 * pc.v_stride, pc.v_stride, nk1, e, vr[i]);
				}
			}
		}

		FC s0 = FC(0.0), s1 = FC(0.0);
		for (uint f = 0; f < nf; f++) {
			FA a, b0, b1;
			coopMatLoadNV(a, qs, qa + f * 16, LD, false);
			coopMatLoadNV(b0, ks, f * 16, LD, true);       // Kᵀ: keys 0..15
			coopMatLoadNV(b1, ks, 16 * LD + f * 16, LD, true); // keys 16..31
			s0 = coopMatMulAddNV(a, b0, s0);
			s1 = coopMatMulAddNV(a, b1, s1);
		}
		coopMatStoreNV(s0, ss, sbase, LS, false);
		coopMatStoreNV(s1, ss, sbase + 16, LS, false);
		subgroupMemoryBarrierShared();
		subgroupBarrier();

		// Online softmax: lanes r and r + 16 share row r, 16 keys each,
		// column c0 + (c + r) % 16 at step c.
		float sv[KB / 2];
		float mx = NEG;
		[[unroll]] for (uint c = 0; c < KB / 2; c++) {
			const uint col = c0 + ((c + row) & 15u);
			sv[c] = col < nk ? ss[sbase + row * LS + col] : NEG;
			mx = max(mx, sv[c]);
		}
		mx = max(mx, subgroupShuffleXor(mx, 16));
		const float mn = max(m, mx);
		float sum = 0.0;
		[[unroll]] for (uint c = 0; c < KB / 2; c++) {
			const uint col = c0 + ((c + row) & 15u);
			const float16_t ph = float16_t(exp2(sv[c] - mn)); // 0 past nk
			ps[pbase + row * LP + col] = ph;
			sum += float(ph); // the sum of what P·V sees
		}
		sum += subgroupShuffleXor(sum, 16);
		const float alpha = exp2(m - mn);
		l = l * alpha + sum;
		m = mn;
		if (lane < 16)
			rs[sg * 16 + row] = alpha;
		subgroupMemoryBarrierShared();
		subgroupBarrier();

		// α of each element's row; literal indices only, so no fragment
		// is ever indexed dynamically (that would put it in local memory)
		float al[8];
#define AL(e) al[e] = e < ne ? rs[sg * 16 + uint(rid[e])] : 0.0;
		E8(AL)
#undef AL
		FA p0, p1;
		coopMatLoadNV(p0, ps, pbase, LP, false);
		coopMatLoadNV(p1, ps, pbase + 16, LP, false);
#define PV(i, acc)                                                                      \
		if (i < nf) {                                                           \
			FA b0, b1;                                                      \
			SCALE(acc, al)                                                  \
			coopMatLoadNV(b0, vs, i * 16, LD, false);                       \
			coopMatLoadNV(b1, vs, 16 * LD + i * 16, LD, false);             \
			acc = coopMatMulAddNV(p0, b0, acc);                             \
			acc = coopMatMulAddNV(p1, b1, acc);                             \
		}
		PV(0, o0) PV(1, o1) PV(2, o2) PV(3, o3) PV(4, o4) PV(5, o5)
#undef PV
	}

	// 1/l per row, then each fragment through the subgroup's staging.
	if (lane < 16)
		rs[sg * 16 + row] = 1.0 / l;
	subgroupMemoryBarrierShared();
	subgroupBarrier();
	float il[8];
#define IL(e) il[e] = e < ne ? rs[sg * 16 + uint(rid[e])] : 0.0;
	E8(IL)
#undef IL
	const uint oo = pc.o_off + (base + q0 + sg * 16) * pc.o_stride + h0;
	const uint nq = min(n - q0, QT), r0 = sg * 16;
#define OUT(i, acc)                                                                     \
	if (i < nf) {                                                                   \
		SCALE(acc, il)                                                          \
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
	OUT(0, o0) OUT(1, o1) OUT(2, o2) OUT(3, o3) OUT(4, o4) OUT(5, o5)
#undef OUT
}
