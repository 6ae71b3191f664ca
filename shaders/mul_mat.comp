#version 450
// shaders/mul_mat.comp — Y[n][m] = epilogue(Σ_k W[m][k]·X[n][k]), tiled in
// shared memory, f32 throughout; runs on any device (lavapipe: 32 KiB
// shared, subgroup 8). A workgroup of 256 computes a 64 (m) × 64 (n) tile,
// 4×4 outputs per invocation, stepping K by 32 (one Q8_0/Q4_0 block, an
// eighth of a Q6_K block). Workgroups: x over M, y over N.
// Variants: -DW_F32 | -DW_F16 | -DW_BF16 | -DW_Q8_0 | -DW_Q4_0 | -DW_Q6_K.
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_8bit_storage : require
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "types.glsl"
#include "mul_mat_push.glsl"
#include "mul_mat_w.glsl"
#include "mul_mat_epilogue.glsl"

// Fixed: the tile shape depends on it, not on the subgroup size.
layout(local_size_x = 256) in;

#define BM 64
#define BN 64
#define BK 32

layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

shared float ws[BK * BM]; // [k][m]
shared float xs[BK * BN]; // [k][n]

void main()
{
	const uint m0 = gl_WorkGroupID.x * BM, n0 = gl_WorkGroupID.y * BN;
	const uint tid = gl_LocalInvocationID.x;
	const uint tx = tid % 16, ty = tid / 16;   // outputs m0 + tx + 16i, n0 + ty + 16j
	const uint lr = tid / 4, lk = (tid % 4) * 8; // loads: row lr, k lk..lk+7

	float acc[4][4];
	[[unroll]] for (uint i = 0; i < 4; i++)
		[[unroll]] for (uint j = 0; j < 4; j++)
			acc[i][j] = 0.0;

	for (uint k0 = 0; k0 < pc.K; k0 += BK) {
		float v[8];
		if (m0 + lr < pc.M && k0 + lk < pc.K) {
			load_w8(pc.w_off + (m0 + lr) * pc.w_stride, k0 + lk, v);
		} else {
			for (uint j = 0; j < 8; j++)
				v[j] = 0.0;
		}
		for (uint j = 0; j < 8; j++)
			ws[(lk + j) * BM + lr] = v[j];
		const uint xr = pc.x_off + (n0 + lr) * pc.x_stride + k0 + lk;
		for (uint j = 0; j < 8; j++)
			xs[(lk + j) * BN + lr] = (n0 + lr < pc.N && k0 + lk + j < pc.K) ? x[xr + j] : 0.0;
		barrier();
		for (uint k = 0; k < BK; k++) {
			float a[4], b[4];
			[[unroll]] for (uint i = 0; i < 4; i++)
				a[i] = ws[k * BM + tx + 16 * i];
			[[unroll]] for (uint j = 0; j < 4; j++)
				b[j] = xs[k * BN + ty + 16 * j];
			[[unroll]] for (uint i = 0; i < 4; i++)
				[[unroll]] for (uint j = 0; j < 4; j++)
					acc[i][j] = fma(a[i], b[j], acc[i][j]);
		}
		barrier();
	}

	[[unroll]] for (uint j = 0; j < 4; j++) {
		const uint n = n0 + ty + 16 * j;
		if (n >= pc.N)
			continue;
		[[unroll]] for (uint i = 0; i < 4; i++) {
			const uint m = m0 + tx + 16 * i;
			if (m < pc.M)
				y[pc.y_off + n * pc.y_stride + m] = mm_epilogue(acc[i][j], m, n);
		}
	}
}
