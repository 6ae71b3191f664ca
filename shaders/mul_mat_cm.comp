#version 450
// shaders/mul_mat_cm.comp — mul_mat.comp on tensor cores through
// GL_NV_cooperative_matrix: f16 tiles in shared memory, f32 accumulators,
// 16×16×16 fragments. A workgroup of 8 subgroups of 32 computes a 128 (n)
// × 128 (m) tile; subgroup s owns rows 32(s/2) .. +32 and columns
// 64(s%2) .. +64 of it (2 × 4 fragments). C = A·B with A = X tile (n × k,
// row-major) and B = Wᵀ tile (k × m, i.e. W rows read column-major), so C
// is already in Y's layout. Built only when glslang compiles the extension;
// used only on devices with VK_NV_cooperative_matrix and subgroup size 32.
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

layout(local_size_x = 256) in;

#define BM 128
#define BN 128
#define BK 32
#define LDS (BK + 8) // halves per shared row: 80 bytes, a multiple of 16

layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

shared float16_t xs[BN * LDS]; // [n][k]
shared float16_t ws[BM * LDS]; // [m][k]
shared float stage[8 * 256];   // one 16×16 f32 fragment per subgroup

void main()
{
	const uint m0 = gl_WorkGroupID.x * BM, n0 = gl_WorkGroupID.y * BN;
	const uint tid = gl_LocalInvocationID.x;
	const uint sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;
	const uint sn = (sg / 2) * 32, sm = (sg % 2) * 64;

	fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> acc[2][4];
	[[unroll]] for (uint i = 0; i < 2; i++)
		[[unroll]] for (uint j = 0; j < 4; j++)
			acc[i][j] = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);

	for (uint k0 = 0; k0 < pc.K; k0 += BK) {
		// 128 rows × 32 of each operand: 16 values per invocation, as 2 × 8.
		[[unroll]] for (uint h = 0; h < 2; h++) {
			const uint r = tid / 4 + 64 * h, lk = (tid % 4) * 8;
			float v[8];
			if (m0 + r < pc.M && k0 + lk < pc.K) {
				load_w8(pc.w_off + (m0 + r) * pc.w_stride, k0 + lk, v);
			} else {
				for (uint j = 0; j < 8; j++)
					v[j] = 0.0;
			}
			for (uint j = 0; j < 8; j++)
				ws[r * LDS + lk + j] = float16_t(v[j]);
			const uint xr = pc.x_off + (n0 + r) * pc.x_stride + k0 + lk;
			for (uint j = 0; j < 8; j++)
				xs[r * LDS + lk + j] = float16_t(
					(n0 + r < pc.N && k0 + lk + j < pc.K) ? x[xr + j] : 0.0);
		}
		barrier();
		[[unroll]] for (uint kk = 0; kk < BK; kk += 16) {
			fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> a[2], b[4];
			[[unroll]] for (uint i = 0; i < 2; i++)
				coopMatLoadNV(a[i], xs, (sn + 16 * i) * LDS + kk, LDS, false);
			[[unroll]] for (uint j = 0; j < 4; j++)
				coopMatLoadNV(b[j], ws, (sm + 16 * j) * LDS + kk, LDS, true);
			[[unroll]] for (uint i = 0; i < 2; i++)
				[[unroll]] for (uint j = 0; j < 4; j++)
					acc[i][j] = coopMatMulAddNV(a[i], b[j], acc[i][j]);
		}
		barrier();
	}

	// Each fragment through the subgroup's stage: bounds and the epilogue.
	[[unroll]] for (uint i = 0; i < 2; i++) {
		[[unroll]] for (uint j = 0; j < 4; j++) {
			coopMatStoreNV(acc[i][j], stage, sg * 256, 16, false);
			subgroupMemoryBarrierShared();
			subgroupBarrier();
			for (uint e = lane; e < 256; e += gl_SubgroupSize) {
				const uint n = n0 + sn + 16 * i + e / 16, m = m0 + sm + 16 * j + e % 16;
				if (n < pc.N && m < pc.M)
					y[pc.y_off + n * pc.y_stride + m] =
						mm_epilogue(stage[sg * 256 + e], m, n);
			}
			subgroupBarrier();
		}
	}
}
