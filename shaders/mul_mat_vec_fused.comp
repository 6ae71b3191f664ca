#version 450
// shaders/mul_mat_vec_fused.comp — the decoder's mat-vec with its neighbours
// fused in (one dispatch instead of two or four per use), flags in the push
// block (uniform branches):
//   NORM: x is RMS-normalized with weight nw first. The scale is one number
//         per vector, so y = scale · W·(x ⊙ nw), with Σx² gathered in the
//         same pass over x as the dot products.
//   GLU:  y = silu(W·x) ⊙ (W2·x), W2 a second matrix of W's type and shape
//         (ffn gate and up, then SwiGLU).
//   ADD:  y += r (the residual; r may be y: each element is read and then
//         written by one invocation).
// Order: NORM, the products, GLU, ADD. Layout and workgroups as
// mul_mat_vec.comp (one workgroup per row, NCOLS vectors each); the weight
// decoding below is the same as there.
// Variants: -DW_F32 | -DW_F16 | -DW_Q8_0 | -DW_Q4_0 | -DW_Q6_K.
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_8bit_storage : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_GOOGLE_include_directive : require
#include "types.glsl"

layout(local_size_x_id = 0) in;            // workgroup size: whole subgroups
layout(constant_id = 1) const uint NCOLS = 4; // vectors per workgroup

#define FLAG_NORM 1u
#define FLAG_GLU 2u
#define FLAG_ADD 4u

// Mirror of struct gpu_push_mmv_fused (vk/push_lm.h).
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
	uint flags;
	uint nw_off;
	uint r_off;
	uint r_stride;
	uint w2_off;
	float eps;
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
layout(std430, binding = 3) readonly buffer NW { float nw[]; };
layout(std430, binding = 4) readonly buffer R { float r[]; };
layout(std430, binding = 5) readonly buffer W2 { WBLOCK w2[]; };

shared float red[3 * NCOLS * gl_WorkGroupSize.x];

// The UNIT consecutive weights of unit u of block ib, starting at element
// u * UNIT of the block.
void load_w(uint ib, uint u, out float wv[UNIT])
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

// The same for W2 (a buffer cannot be a parameter in GLSL).
void load_w2(uint ib, uint u, out float wv[UNIT])
{
#if defined(W_F32) || defined(W_F16)
	wv[0] = float(w2[ib]);
#elif defined(W_Q8_0)
	const float d = float(w2[ib].d);
	for (uint j = 0; j < 16; j++)
		wv[j] = float(int(w2[ib].qs[16 * u + j])) * d;
#elif defined(W_Q4_0)
	// unit 0: low nibbles (elements 0..15), unit 1: high nibbles (16..31)
	const float d = float(w2[ib].d);
	const uint shift = 4 * u;
	for (uint j = 0; j < 16; j++)
		wv[j] = float(int((uint(w2[ib].qs[j]) >> shift) & 15u) - 8) * d;
#elif defined(W_Q6_K)
	// unit u = (half h, quarter q, sixteenth s): elements 128h + 32q + 16s + l
	const uint h = u >> 3, q = (u >> 1) & 3u, s = u & 1u;
	const float ds = float(w2[ib].d) * float(int(w2[ib].scales[8 * h + s + 2 * q]));
	const uint lo_shift = (q >> 1) * 4, hi_shift = 2 * q;
	for (uint j = 0; j < 16; j++) {
		const uint l = 16 * s + j;
		const uint lo = (uint(w2[ib].ql[64 * h + l + 32 * (q & 1u)]) >> lo_shift) & 15u;
		const uint hi = (uint(w2[ib].qh[32 * h + l]) >> hi_shift) & 3u;
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
	const uint w2row = pc.w2_off + row * pc.w_stride;
	const bool norm = (pc.flags & FLAG_NORM) != 0u, glu = (pc.flags & FLAG_GLU) != 0u;

	float acc[NCOLS], acc2[NCOLS], ss[NCOLS];
	for (uint c = 0; c < NCOLS; c++) {
		acc[c] = 0.0;
		acc2[c] = 0.0;
		ss[c] = 0.0;
	}

	for (uint i = tid; i < units; i += gl_WorkGroupSize.x) {
		const uint ib = i / UNITS_PER_BLOCK, u = i % UNITS_PER_BLOCK;
		float wv[UNIT], wv2[UNIT];
		load_w(wrow + ib, u, wv);
		if (glu)
			load_w2(w2row + ib, u, wv2);
		const uint e0 = ib * BLOCK_ELEMS + u * UNIT;
		for (uint c = 0; c < NCOLS; c++) {
			if (col0 + c >= pc.ncols)
				break;
			const uint xb = pc.x_off + (col0 + c) * pc.x_stride + e0;
			float s = 0.0, s2 = 0.0, q = 0.0;
			for (uint j = 0; j < UNIT; j++) {
				float xv = x[xb + j];
				if (norm) {
					q += xv * xv;
					xv *= nw[pc.nw_off + e0 + j];
				}
				s += wv[j] * xv;
				if (glu)
					s2 += wv2[j] * xv;
			}
			acc[c] += s;
			acc2[c] += s2;
			ss[c] += q;
		}
	}

	// Sum over the workgroup: within each subgroup, then across subgroups.
	const uint ns = gl_NumSubgroups;
	for (uint c = 0; c < NCOLS; c++) {
		const float a = subgroupAdd(acc[c]), b = subgroupAdd(acc2[c]), q = subgroupAdd(ss[c]);
		if (subgroupElect()) {
			red[(3u * c) * ns + gl_SubgroupID] = a;
			red[(3u * c + 1u) * ns + gl_SubgroupID] = b;
			red[(3u * c + 2u) * ns + gl_SubgroupID] = q;
		}
	}
	barrier();
	if (tid < NCOLS && col0 + tid < pc.ncols) {
		float a = 0.0, b = 0.0, q = 0.0;
		for (uint g = 0; g < ns; g++) {
			a += red[(3u * tid) * ns + g];
			b += red[(3u * tid + 1u) * ns + g];
			q += red[(3u * tid + 2u) * ns + g];
		}
		if (norm) {
			const float scale = 1.0 / sqrt(q / float(pc.ne0) + pc.eps);
			a *= scale;
			b *= scale;
		}
		if (glu)
			a = a / (1.0 + exp(-a)) * b;
		const uint col = col0 + tid;
		if ((pc.flags & FLAG_ADD) != 0u)
			a += r[pc.r_off + col * pc.r_stride + row];
		y[pc.y_off + col * pc.y_stride + row] = a;
	}
}
