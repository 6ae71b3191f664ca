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
//   S = Q·Kᵀ       2 fragments 16×16 (f16 in, f32 accumulate), stored to
//                  the subgroup's shared S
//   softmax        online, base 2 (Q is pre-scaled by scale·log2 e): lanes
//                  r and r + 16 hold row r's max m and sum l, 16 keys each,
//                  and write P as f16
//   O = O·α + P·V  per 16 columns of the head: one fragment P·V through a
//                  shared staging tile into plain f32 registers, where the
//                  lane's row's α applies (no element access on fragments,
//                  whose element-to-lane mapping is the implementation's)
// The head dimension is padded with zeros to hdp (a multiple of 16, ≤ 96:
// hd 72 runs as 80; the plain kernel takes larger heads). The next block of
// K and V is read from global memory into registers while this one
// multiplies. Lanes walk their columns of S and of the staging tile skewed
// by the row, against bank conflicts (so a lane's O registers hold its
// columns rotated by its row). Built only when glslang compiles the
// extension; used only on devices with VK_NV_cooperative_matrix and
// subgroup size 32.
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
shared float ss[4 * 16 * LS];     // per subgroup: S [16][KB], or two staging tiles [16][LT]
shared float16_t ps[4 * 16 * LP]; // per subgroup: P [16][KB]

#define LT 20 // floats per row of a staging tile
#define NF 6  // MAX_HDP / 16

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

	// Lane: row r = lane % 16 of the subgroup's 16 queries; hf = lane / 16
	// takes S columns 16hf .. 16hf+15 and O columns 8hf .. 8hf+7 of each 16.
	const uint row = lane % 16, hf = lane / 16;
	const uint sbase = sg * 16 * LS, pbase = sg * 16 * LP, qa = sg * 16 * LD;
	float m = NEG, l = 0.0;
	float oa[NF * 8]; // O: column 16i + 8hf + (c + row) % 8 in oa[8i + c]
	[[unroll]] for (uint i = 0; i < NF * 8; i++)
		oa[i] = 0.0;

	for (uint j0 = 0; j0 < n; j0 += KB) {
		const uint nk = min(n - j0, KB);
		barrier(); // every subgroup is done with the previous block
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
			coopMatLoadNV(b0, ks, f * 16, LD, true);           // Kᵀ: keys 0..15
			coopMatLoadNV(b1, ks, 16 * LD + f * 16, LD, true); // keys 16..31
			s0 = coopMatMulAddNV(a, b0, s0);
			s1 = coopMatMulAddNV(a, b1, s1);
		}
		coopMatStoreNV(s0, ss, sbase, LS, false);
		coopMatStoreNV(s1, ss, sbase + 16, LS, false);
		subgroupMemoryBarrierShared();
		subgroupBarrier();

		// Online softmax; step c reads column 16hf + (c + row) % 16.
		float sv[KB / 2];
		float mx = NEG;
		[[unroll]] for (uint c = 0; c < KB / 2; c++) {
			const uint col = hf * 16 + ((c + row) & 15u);
			sv[c] = col < nk ? ss[sbase + row * LS + col] : NEG;
			mx = max(mx, sv[c]);
		}
		mx = max(mx, subgroupShuffleXor(mx, 16));
		const float mn = max(m, mx);
		float sum = 0.0;
		[[unroll]] for (uint c = 0; c < KB / 2; c++) {
			const uint col = hf * 16 + ((c + row) & 15u);
			const float16_t ph = float16_t(exp2(sv[c] - mn)); // 0 past nk
			ps[pbase + row * LP + col] = ph;
			sum += float(ph); // the sum of what P·V sees
		}
		sum += subgroupShuffleXor(sum, 16);
		const float alpha = exp2(m - mn);
		l = l * alpha + sum;
		m = mn;
		subgroupMemoryBarrierShared();
		subgroupBarrier(); // P written, S read: ss free for staging

		FA p0, p1;
		coopMatLoadNV(p0, ps, pbase, LP, false);
		coopMatLoadNV(p1, ps, pbase + 16, LP, false);
		[[unroll]] for (uint i = 0; i < NF; i++) {
			if (i < nf) {
				FA b0, b1;
				FC t = FC(0.0);
				coopMatLoadNV(b0, vs, i * 16, LD, false);
				coopMatLoadNV(b1, vs, 16 * LD + i * 16, LD, false);
				t = coopMatMulAddNV(p0, b0, t);
				t = coopMatMulAddNV(p1, b1, t);
				// two staging tiles in turn: tile i % 2 was last read
				// before the barrier after tile i − 1's store
				const uint st = sbase + (i % 2) * 16 * LT;
				coopMatStoreNV(t, ss, st, LT, false);
				subgroupMemoryBarrierShared();
				subgroupBarrier();
				[[unroll]] for (uint c = 0; c < 8; c++)
					oa[8 * i + c] = oa[8 * i + c] * alpha +
							ss[st + row * LT + hf * 8 + ((c + row) & 7u)];
			}
		}
		subgroupBarrier(); // staging read before the next block's S store
	}

	// o = O / l, rows past the segment and columns past hd left alone.
	const uint nq = min(n - q0, QT), r = sg * 16 + row;
	if (r < nq) {
		const float il = 1.0 / l;
		const uint oo = pc.o_off + (base + q0 + r) * pc.o_stride + h0;
		[[unroll]] for (uint i = 0; i < NF; i++) {
			[[unroll]] for (uint c = 0; c < 8; c++) {
				const uint d = 16 * i + hf * 8 + ((c + row) & 7u);
				if (i < nf && d < hd)
					o[oo + d] = oa[8 * i + c] * il;
			}
		}
	}
}
