#version 450
// shaders/mul_mat_cm.comp — mul_mat.comp on tensor cores through
// GL_NV_cooperative_matrix: f16 tiles in shared memory, f32 accumulators,
// 16×16×16 fragments. C = A·B with A = X tile (n × k, row-major) and B = Wᵀ
// tile (k × m, i.e. W rows read column-major), so C is already in Y's
// layout. Built only when glslang compiles the extension; used only on
// devices with VK_NV_cooperative_matrix and subgroup size 32.
//
// Tile shape, fixed per pipeline (shaders/meson.build, vk/ops_matmul.c
// picks one by grid size): WARPS_N × WARPS_M subgroups, each owning FN × FM
// fragments, so a workgroup computes BN = 16·FN·WARPS_N rows of X (n) by
// BM = 16·FM·WARPS_M rows of W (m). KG groups of those subgroups split each
// K step of KG·BK (group g takes k g·BK .. +BK) and add their fragments
// through shared memory at the end: more subgroups per tile, for grids too
// small to fill the device (prefill's 4608 → 1024: 80 tiles of 64×64).
//
// Speed (docs/vulkan.md): the fragments are plain variables, never arrays
// (an array of cooperative matrices can land in local memory); the next K
// step's tiles are read from global memory into registers (16-byte loads
// where the layout allows), converted to f16 once, while this step's
// fragments multiply, then written with 8-byte stores to the other of two
// shared buffers, so one barrier per K step. Subgroups whose fragments lie
// wholly past N or M skip their multiplies.
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_8bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_NV_cooperative_matrix : require
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "types.glsl"
#include "mul_mat_push.glsl"
#include "mul_mat_w.glsl"
#include "mul_mat_epilogue.glsl"

#ifndef WARPS_N
#define WARPS_N 4
#endif
#ifndef WARPS_M
#define WARPS_M 2
#endif
#ifndef FN
#define FN 2 // 1 or 2
#endif
#ifndef FM
#define FM 4 // 1, 2 or 4
#endif
#ifndef BK
#define BK 32 // 32 or 64
#endif
#ifndef KG
#define KG 1
#endif
#ifndef MM_STAGES
#define MM_STAGES 2 // shared buffers: 2 = one barrier per K step
#endif

#define NW (WARPS_N * WARPS_M) // subgroups of one K group
#define NSG (NW * KG)
#define NT (32 * NSG)
#define BKT (BK * KG) // K per step of the whole workgroup
#define BN (16 * FN * WARPS_N)
#define BM (16 * FM * WARPS_M)
#define LDH (BKT + 8) // halves per shared row: +8, so ldmatrix rows hit distinct banks
#define XBUF (BN * LDH)
#define WBUF (BM * LDH)
#define XCH (BN * BKT / 4 / NT) // 4-wide chunks of X per invocation per K step
#define WCH (BM * BKT / 8 / NT) // 8-wide chunks of W per invocation per K step
#if XCH < 1 || WCH < 1 || XCH * NT * 4 != BN * BKT || WCH * NT * 8 != BM * BKT
#error "tile shape does not divide among the invocations"
#endif

layout(local_size_x = NT) in;

layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer X4 { vec4 x4[]; }; // same buffer, 16-byte view
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
#if defined(W_F16)
layout(std430, binding = 0) readonly buffer W4 { uvec4 w4[]; }; // 8 halves
#elif defined(W_Q8_0) || defined(W_Q4_0)
// Blocks as 32-bit words (a 16-bit view would need the Int16 capability):
// halfword i of the binding.
layout(std430, binding = 0) readonly buffer WQ { uint wq[]; };
uint w16(uint i)
{
	return (wq[i >> 1] >> ((i & 1u) * 16u)) & 0xffffu;
}
#endif

// Shared tiles as uvec2 (4 halves; glslang 12 takes uint but not f16
// vectors as a cooperative-matrix load source; one 8-byte store instead of
// four 2-byte ones). Offsets below count halves; SU converts.
#define SU 4
shared uvec2 xs[MM_STAGES * XBUF / 4]; // [n][k] per buffer
shared uvec2 ws[MM_STAGES * WBUF / 4]; // [m][k] per buffer
void put4(bool isx, uint o, f16vec4 v)
{
	const uvec2 u = uvec2(packFloat2x16(v.xy), packFloat2x16(v.zw));
	if (isx)
		xs[o / 4] = u;
	else
		ws[o / 4] = u;
}
shared float stage[NSG * 256];       // one 16×16 f32 fragment per subgroup

#define FA fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define FC fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>

// Registers between the global read and the shared write of one K step.
// X chunk h: row (tid + NT·h) / (BK/4), k 4·((tid + NT·h) % (BK/4)); W chunk
// h: row (tid + NT·h) / (BK/8), k 8·(...), as two f16vec4.
f16vec4 xr[XCH];
f16vec4 wr[2 * WCH];

void read_x(uint n0, uint k0, bool vec)
{
	const uint tid = gl_LocalInvocationID.x;
	[[unroll]] for (uint h = 0; h < XCH; h++) {
		const uint c = tid + NT * h;
		const uint n = n0 + c / (BKT / 4), k = k0 + (c % (BKT / 4)) * 4;
		vec4 v = vec4(0.0);
		if (vec) {
			// K, x_off and x_stride are multiples of 4: all four or none
			if (n < pc.N && k < pc.K)
				v = x4[(pc.x_off + n * pc.x_stride + k) / 4];
		} else if (n < pc.N) {
			const uint o = pc.x_off + n * pc.x_stride + k;
			[[unroll]] for (uint j = 0; j < 4; j++)
				if (k + j < pc.K)
					v[j] = x[o + j];
		}
		xr[h] = f16vec4(v);
	}
}

void read_w(uint m0, uint k0, bool vec)
{
	const uint tid = gl_LocalInvocationID.x;
	[[unroll]] for (uint h = 0; h < WCH; h++) {
		const uint c = tid + NT * h;
		const uint m = m0 + c / (BKT / 8), k = k0 + (c % (BKT / 8)) * 8;
		const bool inb = m < pc.M && k < pc.K;
		const uint row = pc.w_off + m * pc.w_stride;
#if defined(W_F16)
		if (vec) {
			// K, w_off and w_stride are multiples of 8: all eight or none
			const uvec4 u = inb ? w4[(row + k) / 8] : uvec4(0);
			wr[2 * h] = f16vec4(unpackFloat2x16(u.x), unpackFloat2x16(u.y));
			wr[2 * h + 1] = f16vec4(unpackFloat2x16(u.z), unpackFloat2x16(u.w));
			continue;
		}
#elif defined(W_Q8_0)
		if (inb) {
			// block: d, then 32 int8 = 16 halfwords; 8 values from k % 32
			const uint b = (row + k / QK8_0) * 17u, e = k % QK8_0;
			const float16_t d = float16_t(unpackHalf2x16(w16(b)).x);
			[[unroll]] for (uint j = 0; j < 2; j++) {
				const uint q0 = w16(b + 1u + e / 2u + 2 * j);
				const uint q1 = w16(b + 2u + e / 2u + 2 * j);
				const ivec4 q = ivec4(int(q0 << 24) >> 24, int(q0 << 16) >> 24,
						      int(q1 << 24) >> 24, int(q1 << 16) >> 24);
				wr[2 * h + j] = f16vec4(q) * d;
			}
		} else {
			wr[2 * h] = wr[2 * h + 1] = f16vec4(0.0);
		}
		continue;
#elif defined(W_Q4_0)
		if (inb) {
			// block: d, then 16 bytes = 8 halfwords; elements 0..15 low
			// nibbles, 16..31 high nibbles of the same bytes
			const uint b = (row + k / QK4_0) * 9u, e = k % QK4_0;
			const float16_t d = float16_t(unpackHalf2x16(w16(b)).x);
			const uint shift = e >= 16u ? 4u : 0u;
			[[unroll]] for (uint j = 0; j < 2; j++) {
				const uint q0 = w16(b + 1u + (e % 16u) / 2u + 2 * j) >> shift;
				const uint q1 = w16(b + 2u + (e % 16u) / 2u + 2 * j) >> shift;
				const ivec4 q = ivec4(q0 & 15u, (q0 >> 8) & 15u, q1 & 15u, (q1 >> 8) & 15u) - 8;
				wr[2 * h + j] = f16vec4(q) * d;
			}
		} else {
			wr[2 * h] = wr[2 * h + 1] = f16vec4(0.0);
		}
		continue;
#endif
		float v[8];
		if (inb) {
			load_w8(row, k, v);
		} else {
			[[unroll]] for (uint j = 0; j < 8; j++)
				v[j] = 0.0;
		}
		wr[2 * h] = f16vec4(v[0], v[1], v[2], v[3]);
		wr[2 * h + 1] = f16vec4(v[4], v[5], v[6], v[7]);
	}
}

void write_tiles(uint buf)
{
	const uint tid = gl_LocalInvocationID.x;
	[[unroll]] for (uint h = 0; h < XCH; h++) {
		const uint c = tid + NT * h;
		put4(true, buf * XBUF + (c / (BKT / 4)) * LDH + (c % (BKT / 4)) * 4, xr[h]);
	}
	[[unroll]] for (uint h = 0; h < WCH; h++) {
		const uint c = tid + NT * h;
		const uint o = buf * WBUF + (c / (BKT / 8)) * LDH + (c % (BKT / 8)) * 8;
		put4(false, o, wr[2 * h]);
		put4(false, o + 4, wr[2 * h + 1]);
	}
}

// Fragment (n, m) .. +16: straight to Y when whole and without epilogue,
// otherwise through the subgroup's stage for bounds and the epilogue.
void store_frag(FC c, uint sg, uint n, uint m)
{
	if (n >= pc.N || m >= pc.M)
		return;
	if (pc.flags == 0u && n + 16u <= pc.N && m + 16u <= pc.M) {
		coopMatStoreNV(c, y, pc.y_off + n * pc.y_stride + m, pc.y_stride, false);
		return;
	}
	coopMatStoreNV(c, stage, sg * 256, 16, false);
	subgroupMemoryBarrierShared();
	subgroupBarrier();
	for (uint e = gl_SubgroupInvocationID; e < 256; e += gl_SubgroupSize) {
		const uint nn = n + e / 16, mm = m + e % 16;
		if (nn < pc.N && mm < pc.M)
			y[pc.y_off + nn * pc.y_stride + mm] = mm_epilogue(stage[sg * 256 + e], mm, nn);
	}
	subgroupBarrier();
}

// K groups: group 0 adds the others' partial sums of one fragment. Every
// subgroup calls it (workgroup barriers); the stage slots of groups > 0 hold
// their copies.
FC reduce_kg(FC c, uint sg)
{
#if KG > 1
	if (sg >= NW)
		coopMatStoreNV(c, stage, sg * 256, 16, false);
	barrier();
	if (sg < NW) {
		[[unroll]] for (uint g = 1; g < KG; g++) {
			FC t;
			coopMatLoadNV(t, stage, (sg + g * NW) * 256, 16, false);
			c = c + t;
		}
	}
	barrier();
#endif
	return c;
}

// One 16-deep slice: FN fragments of X times FM of W.
#define MMA_ROW(i, a)                                 \
	c##i##0 = coopMatMulAddNV(a, b0, c##i##0);    \
	if (FM > 1)                                   \
		c##i##1 = coopMatMulAddNV(a, b1, c##i##1); \
	if (FM > 2) {                                 \
		c##i##2 = coopMatMulAddNV(a, b2, c##i##2); \
		c##i##3 = coopMatMulAddNV(a, b3, c##i##3); \
	}

void main()
{
	const uint m0 = gl_WorkGroupID.x * BM, n0 = gl_WorkGroupID.y * BN;
	const uint sg = gl_SubgroupID, kg = sg / NW, sw = sg % NW;
	const uint sn = (sw / WARPS_M) * (16 * FN), sm = (sw % WARPS_M) * (16 * FM);
	const bool live = n0 + sn < pc.N && m0 + sm < pc.M; // uniform per subgroup
	const bool xvec = pc.K % 4 == 0 && pc.x_off % 4 == 0 && pc.x_stride % 4 == 0;
	const bool wvec = pc.K % 8 == 0 && pc.w_off % 8 == 0 && pc.w_stride % 8 == 0;

	FC c00 = FC(0.0), c01 = FC(0.0), c02 = FC(0.0), c03 = FC(0.0);
	FC c10 = FC(0.0), c11 = FC(0.0), c12 = FC(0.0), c13 = FC(0.0);

	read_x(n0, 0, xvec);
	read_w(m0, 0, wvec);
	write_tiles(0);
	barrier();
	uint cur = 0;
	for (uint k0 = 0; k0 < pc.K; k0 += BKT) {
		const bool more = k0 + BKT < pc.K;
		if (more) { // in flight while the fragments below multiply
			read_x(n0, k0 + BKT, xvec);
			read_w(m0, k0 + BKT, wvec);
		}
		if (live) {
			const uint xa = cur * XBUF + sn * LDH, wa = cur * WBUF + sm * LDH;
			[[unroll]] for (uint kk = kg * BK; kk < kg * BK + BK; kk += 16) {
				FA a0, a1, b0, b1, b2, b3;
				coopMatLoadNV(b0, ws, (wa + kk) / SU, LDH / SU, true);
				if (FM > 1)
					coopMatLoadNV(b1, ws, (wa + 16 * LDH + kk) / SU, LDH / SU, true);
				if (FM > 2) {
					coopMatLoadNV(b2, ws, (wa + 32 * LDH + kk) / SU, LDH / SU, true);
					coopMatLoadNV(b3, ws, (wa + 48 * LDH + kk) / SU, LDH / SU, true);
				}
				coopMatLoadNV(a0, xs, (xa + kk) / SU, LDH / SU, false);
				MMA_ROW(0, a0)
				if (FN > 1) {
					coopMatLoadNV(a1, xs, (xa + 16 * LDH + kk) / SU, LDH / SU, false);
					MMA_ROW(1, a1)
				}
			}
		}
		if (more) {
#if MM_STAGES == 2
			// the other buffer was last read before the previous barrier
			write_tiles(cur ^ 1u);
			barrier();
			cur ^= 1u;
#else
			barrier();
			write_tiles(0);
			barrier();
#endif
		}
	}

#if KG > 1
	c00 = reduce_kg(c00, sg);
	if (FM > 1)
		c01 = reduce_kg(c01, sg);
	if (FM > 2) {
		c02 = reduce_kg(c02, sg);
		c03 = reduce_kg(c03, sg);
	}
	if (FN > 1) {
		c10 = reduce_kg(c10, sg);
		if (FM > 1)
			c11 = reduce_kg(c11, sg);
		if (FM > 2) {
			c12 = reduce_kg(c12, sg);
			c13 = reduce_kg(c13, sg);
		}
	}
	if (kg != 0)
		return;
#endif
	const uint n = n0 + sn, m = m0 + sm;
	store_frag(c00, sg, n, m);
	if (FM > 1)
		store_frag(c01, sg, n, m + 16);
	if (FM > 2) {
		store_frag(c02, sg, n, m + 32);
		store_frag(c03, sg, n, m + 48);
	}
	if (FN > 1) {
		store_frag(c10, sg, n + 16, m);
		if (FM > 1)
			store_frag(c11, sg, n + 16, m + 16);
		if (FM > 2) {
			store_frag(c12, sg, n + 16, m + 32);
			store_frag(c13, sg, n + 16, m + 48);
		}
	}
}
