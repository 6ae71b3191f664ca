#version 450
// shaders/mul_mat_cm.comp — mul_mat.comp on tensor cores through
// GL_NV_cooperative_matrix: f16 tiles in shared memory, f32 accumulators,
// 16×16×16 fragments. A workgroup of 8 subgroups of 32 computes a 128 (n)
// × 128 (m) tile; subgroup s owns rows 32(s/2) .. +32 and columns
// 64(s%2) .. +64 of it (2 × 4 fragments); with MM_NARROW 128 × 64 and
// 32(s%2) .. +32 (2 × 2). C = A·B with A = X tile (n × k,
// row-major) and B = Wᵀ tile (k × m, i.e. W rows read column-major), so C
// is already in Y's layout. Built only when glslang compiles the extension;
// used only on devices with VK_NV_cooperative_matrix and subgroup size 32.
//
// Speed (docs/vulkan.md): the fragments are plain variables, never arrays
// (an array of cooperative matrices can land in local memory); the next K
// step's tiles are read from global memory into registers (16-byte loads
// where the layout allows) while this step's fragments multiply, then
// written to the other of two shared buffers, so one barrier per K step.
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_8bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_shader_explicit_arithmetic_types_int16 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_NV_cooperative_matrix : require
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "types.glsl"
#include "mul_mat_push.glsl"
#include "mul_mat_w.glsl"
#include "mul_mat_epilogue.glsl"

layout(local_size_x = 256) in;

#define BM 128
#define BN 128
#define BK 32
#define LDS (BK + 8) // halves per shared row: 80 bytes, ldmatrix rows hit distinct banks
#define BUF (BM * LDS)
#ifndef MM_STAGES
#define MM_STAGES 2 // shared buffers: 2 = one barrier per K step, 48 KiB in all
#endif
// Push flag (vk/ops_matmul.c): the tile is 128 (n) × 64 (m) and the
// subgroups own 32 × 32, for grids too small to fill the device.
#define MM_NARROW 16u

layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer X4 { vec4 x4[]; }; // same buffer, 16-byte view
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
#if defined(W_F16)
layout(std430, binding = 0) readonly buffer W4 { uvec4 w4[]; }; // 8 halves
#elif defined(W_Q8_0) || defined(W_Q4_0)
layout(std430, binding = 0) readonly buffer W16 { uint16_t w16[]; }; // blocks as halfwords
#endif

shared float16_t xs[MM_STAGES * BUF]; // [n][k] per buffer
shared float16_t ws[MM_STAGES * BUF]; // [m][k] per buffer
shared float stage[8 * 256];  // one 16×16 f32 fragment per subgroup

#define FA fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define FC fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>

// Registers between the global read and the shared write of one K step:
// X rows tid/8 + 32h (h < 4), k 4(tid%8) .. +3; W rows tid/4 + 64h (h < 2),
// k 8(tid%4) .. +7. Both as f16 pairs.
uint xr[8];
uint wr[8];

void read_x(uint n0, uint k0, bool vec)
{
	const uint tid = gl_LocalInvocationID.x;
	const uint lk = (tid % 8) * 4;
	[[unroll]] for (uint h = 0; h < 4; h++) {
		const uint n = n0 + tid / 8 + 32 * h, k = k0 + lk;
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
		xr[2 * h] = packFloat2x16(f16vec2(v.xy));
		xr[2 * h + 1] = packFloat2x16(f16vec2(v.zw));
	}
}

void read_w(uint m0, uint k0, bool vec, bool narrow)
{
	const uint tid = gl_LocalInvocationID.x;
	const uint lk = (tid % 4) * 8;
	[[unroll]] for (uint h = 0; h < 2; h++) {
		const uint m = m0 + tid / 4 + 64 * h, k = k0 + lk;
		const bool inb = (h == 0 || !narrow) && m < pc.M && k < pc.K;
		const uint row = pc.w_off + m * pc.w_stride;
#if defined(W_F16)
		if (vec) {
			// K, w_off and w_stride are multiples of 8: all eight or none
			const uvec4 u = inb ? w4[(row + k) / 8] : uvec4(0);
			wr[4 * h] = u.x;
			wr[4 * h + 1] = u.y;
			wr[4 * h + 2] = u.z;
			wr[4 * h + 3] = u.w;
			continue;
		}
#elif defined(W_Q8_0)
		if (inb) {
			// block: d, then 32 int8 = 16 halfwords; 8 values from k % 32
			const uint b = (row + k / QK8_0) * 17u, e = k % QK8_0;
			const float d = float(uint16BitsToFloat16(w16[b]));
			[[unroll]] for (uint j = 0; j < 4; j++) {
				const uint q = uint(w16[b + 1u + e / 2u + j]);
				const int lo = int(q << 24) >> 24, hi = int(q << 16) >> 24;
				wr[4 * h + j] = packFloat2x16(f16vec2(float(lo) * d, float(hi) * d));
			}
		} else {
			[[unroll]] for (uint j = 0; j < 4; j++)
				wr[4 * h + j] = 0u;
		}
#elif defined(W_Q4_0)
		if (inb) {
			// block: d, then 16 bytes = 8 halfwords; elements 0..15 low
			// nibbles, 16..31 high nibbles of the same bytes
			const uint b = (row + k / QK4_0) * 9u, e = k % QK4_0;
			const float d = float(uint16BitsToFloat16(w16[b]));
			const uint shift = e >= 16u ? 4u : 0u;
			[[unroll]] for (uint j = 0; j < 4; j++) {
				const uint q = uint(w16[b + 1u + (e % 16u) / 2u + j]) >> shift;
				const int lo = int(q & 15u) - 8, hi = int((q >> 8) & 15u) - 8;
				wr[4 * h + j] = packFloat2x16(f16vec2(float(lo) * d, float(hi) * d));
			}
		} else {
			[[unroll]] for (uint j = 0; j < 4; j++)
				wr[4 * h + j] = 0u;
		}
#endif
#if !defined(W_Q8_0) && !defined(W_Q4_0)
		float v[8];
		if (inb) {
			load_w8(row, k, v);
		} else {
			[[unroll]] for (uint j = 0; j < 8; j++)
				v[j] = 0.0;
		}
		[[unroll]] for (uint j = 0; j < 4; j++)
			wr[4 * h + j] = packFloat2x16(f16vec2(v[2 * j], v[2 * j + 1]));
#endif
	}
}

void write_tiles(uint buf)
{
	const uint tid = gl_LocalInvocationID.x;
	[[unroll]] for (uint h = 0; h < 4; h++) {
		const uint o = buf * BUF + (tid / 8 + 32 * h) * LDS + (tid % 8) * 4;
		[[unroll]] for (uint j = 0; j < 2; j++) {
			const f16vec2 p = unpackFloat2x16(xr[2 * h + j]);
			xs[o + 2 * j] = p.x;
			xs[o + 2 * j + 1] = p.y;
		}
	}
	[[unroll]] for (uint h = 0; h < 2; h++) {
		const uint o = buf * BUF + (tid / 4 + 64 * h) * LDS + (tid % 4) * 8;
		[[unroll]] for (uint j = 0; j < 4; j++) {
			const f16vec2 p = unpackFloat2x16(wr[4 * h + j]);
			ws[o + 2 * j] = p.x;
			ws[o + 2 * j + 1] = p.y;
		}
	}
}

void store_frag(FC c, uint sg, uint n, uint m)
{
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

void main()
{
	const bool narrow = (pc.flags & MM_NARROW) != 0u;
	const uint m0 = gl_WorkGroupID.x * (narrow ? BM / 2 : BM), n0 = gl_WorkGroupID.y * BN;
	const uint sg = gl_SubgroupID;
	const uint sn = (sg / 2) * 32, sm = (sg % 2) * (narrow ? 32 : 64);
	const bool xvec = pc.K % 4 == 0 && pc.x_off % 4 == 0 && pc.x_stride % 4 == 0;
	const bool wvec = pc.K % 8 == 0 && pc.w_off % 8 == 0 && pc.w_stride % 8 == 0;

	FC c00 = FC(0.0), c01 = FC(0.0), c02 = FC(0.0), c03 = FC(0.0);
	FC c10 = FC(0.0), c11 = FC(0.0), c12 = FC(0.0), c13 = FC(0.0);

	read_x(n0, 0, xvec);
	read_w(m0, 0, wvec, narrow);
	write_tiles(0);
	barrier();
	uint cur = 0;
	for (uint k0 = 0; k0 < pc.K; k0 += BK) {
		const bool more = k0 + BK < pc.K;
		if (more) { // in flight while the fragments below multiply
			read_x(n0, k0 + BK, xvec);
			read_w(m0, k0 + BK, wvec, narrow);
		}
		const uint xa = cur * BUF + sn * LDS, wa = cur * BUF + sm * LDS;
		[[unroll]] for (uint kk = 0; kk < BK; kk += 16) {
			FA a0, a1, b0, b1, b2, b3;
			coopMatLoadNV(a0, xs, xa + kk, LDS, false);
			coopMatLoadNV(a1, xs, xa + 16 * LDS + kk, LDS, false);
			coopMatLoadNV(b0, ws, wa + kk, LDS, true);
			coopMatLoadNV(b1, ws, wa + 16 * LDS + kk, LDS, true);
			c00 = coopMatMulAddNV(a0, b0, c00);
			c01 = coopMatMulAddNV(a0, b1, c01);
			c10 = coopMatMulAddNV(a1, b0, c10);
			c11 = coopMatMulAddNV(a1, b1, c11);
			if (!narrow) {
				coopMatLoadNV(b2, ws, wa + 32 * LDS + kk, LDS, true);
				coopMatLoadNV(b3, ws, wa + 48 * LDS + kk, LDS, true);
				c02 = coopMatMulAddNV(a0, b2, c02);
				c03 = coopMatMulAddNV(a0, b3, c03);
				c12 = coopMatMulAddNV(a1, b2, c12);
				c13 = coopMatMulAddNV(a1, b3, c13);
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

	// Each fragment through the subgroup's stage: bounds and the epilogue.
	const uint n = n0 + sn, m = m0 + sm;
	store_frag(c00, sg, n, m);
	store_frag(c01, sg, n, m + 16);
	store_frag(c10, sg, n + 16, m);
	store_frag(c11, sg, n + 16, m + 16);
	if (!narrow) {
		store_frag(c02, sg, n, m + 32);
		store_frag(c03, sg, n, m + 48);
		store_frag(c12, sg, n + 16, m + 32);
		store_frag(c13, sg, n + 16, m + 48);
	}
}
