#version 450
// shaders/mul_mat_vec.comp — y[c][r] = sum_k W[r][k] * x[c][k], for up to
// NCOLS vectors per workgroup: each weight unit is dequantized once and used
// for every vector. One workgroup per row of W; its threads stride over the
// row's units and meet in a subgroup + shared-memory sum.
// Variants: -DW_F32 | -DW_F16 | -DW_Q8_0 | -DW_Q4_0 | -DW_Q6_K.
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_8bit_storage : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_GOOGLE_include_directive : require
#include "types.glsl"

layout(local_size_x_id = 0) in;            // workgroup size: whole subgroups
layout(constant_id = 1) const uint NCOLS = 4; // vectors per workgroup

// Mirror of struct gpu_push_mul_mat_vec (vk/push.h).
layout(push_constant) uniform Push {
	uint ne0;
	uint nrows;
	uint ncols;
	uint w_off;
	uint w_stride;
	uint x_off;
	uint x_stride;
	uint y_off;
	uint y_stride;
} pc;

#if defined(W_F32)
#define WBLOCK float
#define BLOCK_ELEMS 1
#define UNIT 1
#elif defined(W_F16)
#define WBLOCK float16_t
#define BLOCK_ELEMS 1
#define UNIT 1
#elif defined(W_Q8_0)
#define WBLOCK block_q8_0
#define BLOCK_ELEMS QK8_0
#define UNIT 16
#elif defined(W_Q4_0)
#define WBLOCK block_q4_0
#define BLOCK_ELEMS QK4_0
#define UNIT 16
#elif defined(W_Q6_K)
#define WBLOCK block_q6_K
#define BLOCK_ELEMS QK_K
#define UNIT 16
#else
#error "define one of W_F32 W_F16 W_Q8_0 W_Q4_0 W_Q6_K"
#endif
#define UNITS_PER_BLOCK (BLOCK_ELEMS / UNIT)

layout(std430, binding = 0) readonly buffer W { WBLOCK w[]; };
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

shared float red[NCOLS * gl_WorkGroupSize.x];

// The UNIT consecutive weights of unit u of block ib, starting at element
// u * UNIT of the block.
void load_unit(uint ib, uint u, out float wv[UNIT])
{
#if defined(W_F32) || defined(W_F16)
	wv[0] = float(w[ib]);
#elif defined(W_Q8_0)
	const float d = float(w[ib].d);
	for (uint j = 0; j < 16; j++)
		wv[j] = float(int(w[ib].qs[16 * u + j])) * d;
#elif defined(W_Q4_0)
	// unit 0: low nibbles (elements 0..15), unit 1: high nibbles (16..31)
	const float d = float(w[ib].d);
	const uint shift = 4 * u;
	for (uint j = 0; j < 16; j++)
		wv[j] = float(int((uint(w[ib].qs[j]) >> shift) & 15u) - 8) * d;
#elif defined(W_Q6_K)
	// unit u = (half h, quarter q, sixteenth s): elements 128h + 32q + 16s + l
	const uint h = u >> 3, q = (u >> 1) & 3u, s = u & 1u;
	const float ds = float(w[ib].d) * float(int(w[ib].scales[8 * h + s + 2 * q]));
	const uint lo_shift = (q >> 1) * 4, hi_shift = 2 * q;
	for (uint j = 0; j < 16; j++) {
		const uint l = 16 * s + j;
		const uint lo = (uint(w[ib].ql[64 * h + l + 32 * (q & 1u)]) >> lo_shift) & 15u;
		const uint hi = (uint(w[ib].qh[32 * h + l]) >> hi_shift) & 3u;
		wv[j] = ds * float(int(lo | (hi << 4)) - 32);
	}
#endif
}

void main()
{
	const uint row = gl_WorkGroupID.x;
	const uint col0 = gl_WorkGroupID.y * NCOLS;
	const uint tid = gl_LocalInvocationID.x;
	const uint units = (pc.ne0 / BLOCK_ELEMS) * UNITS_PER_BLOCK;
	const uint wrow = pc.w_off + row * pc.w_stride;

	float acc[NCOLS];
	for (uint c = 0; c < NCOLS; c++)
		acc[c] = 0.0;

	for (uint i = tid; i < units; i += gl_WorkGroupSize.x) {
		const uint ib = i / UNITS_PER_BLOCK, u = i % UNITS_PER_BLOCK;
		float wv[UNIT];
		load_unit(wrow + ib, u, wv);
		const uint e0 = ib * BLOCK_ELEMS + u * UNIT;
		for (uint c = 0; c < NCOLS; c++) {
			if (col0 + c >= pc.ncols)
				break;
			const uint xb = pc.x_off + (col0 + c) * pc.x_stride + e0;
			float s = 0.0;
			for (uint j = 0; j < UNIT; j++)
				s += wv[j] * x[xb + j];
			acc[c] += s;
		}
	}

	// Sum over the workgroup: within each subgroup, then across subgroups.
	for (uint c = 0; c < NCOLS; c++) {
		const float s = subgroupAdd(acc[c]);
		if (subgroupElect())
			red[c * gl_NumSubgroups + gl_SubgroupID] = s;
	}
	barrier();
	if (tid < NCOLS && col0 + tid < pc.ncols) {
		float s = 0.0;
		for (uint g = 0; g < gl_NumSubgroups; g++)
			s += red[tid * gl_NumSubgroups + g];
		y[pc.y_off + (col0 + tid) * pc.y_stride + row] = s;
	}
}
