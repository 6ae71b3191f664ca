#version 450
// shaders/get_rows.comp — row gather and scatter (spec §3.2, §5.4).
// Gather (-DW_F32 | -DW_F16 | -DW_Q8_0 | -DW_Q4_0 | -DW_Q6_K): dst row i =
// dequantized table row ids[i], for ids in [r0, r0 + nrows) of this piece of
// the table (an F32 embedding table is larger than one lavapipe binding);
// other ids are left to the other pieces, and an id outside [0, n_table)
// gives zeros (written by the piece that holds row 0).
// Scatter (-DSCATTER, F32): dst row ids[i] = src row i, ids outside
// [0, nrows) skipped. Workgroups: x over the row, y over the n ids.
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_8bit_storage : require
#extension GL_GOOGLE_include_directive : require
#include "types.glsl"

layout(local_size_x_id = 0) in;

// Mirror of struct gpu_push_get_rows (vk/push_lm.h).
layout(push_constant) uniform Push {
	uint ne0;     // elements per row
	uint n;       // ids
	uint r0;      // gather: first table row of this piece
	uint nrows;   // gather: table rows in this piece; scatter: rows of dst
	uint n_table; // gather: rows of the whole table
	uint t_off;   // table (src) offset, in blocks
	uint t_stride;
	uint ids_off; // ints
	uint d_off;   // floats
	uint d_stride;
} pc;

#if defined(SCATTER) || defined(W_F32)
#define TBLOCK float
#define BLOCK_ELEMS 1
#elif defined(W_F16)
#define TBLOCK float16_t
#define BLOCK_ELEMS 1
#elif defined(W_Q8_0)
#define TBLOCK block_q8_0
#define BLOCK_ELEMS QK8_0
#elif defined(W_Q4_0)
#define TBLOCK block_q4_0
#define BLOCK_ELEMS QK4_0
#elif defined(W_Q6_K)
#define TBLOCK block_q6_K
#define BLOCK_ELEMS QK_K
#else
#error "define one of SCATTER W_F32 W_F16 W_Q8_0 W_Q4_0 W_Q6_K"
#endif

layout(std430, binding = 0) readonly buffer T { TBLOCK t[]; };
layout(std430, binding = 1) readonly buffer Ids { int ids[]; };
layout(std430, binding = 2) writeonly buffer D { float dst[]; };

// Element j of block ib (spec §2 layouts; the same as mul_mat_vec.comp).
float elem(uint ib, uint j)
{
#if defined(SCATTER) || defined(W_F32) || defined(W_F16)
	return float(t[ib]);
#elif defined(W_Q8_0)
	return float(int(t[ib].qs[j])) * float(t[ib].d);
#elif defined(W_Q4_0)
	const uint q = (uint(t[ib].qs[j & 15u]) >> (4u * (j >> 4))) & 15u;
	return float(int(q) - 8) * float(t[ib].d);
#elif defined(W_Q6_K)
	const uint h = j >> 7, q = (j >> 5) & 3u, l = j & 31u, s = l >> 4;
	const float ds = float(t[ib].d) * float(int(t[ib].scales[8u * h + s + 2u * q]));
	const uint lo = (uint(t[ib].ql[64u * h + l + 32u * (q & 1u)]) >> ((q >> 1) * 4u)) & 15u;
	const uint hi = (uint(t[ib].qh[32u * h + l]) >> (2u * q)) & 3u;
	return ds * float(int(lo | (hi << 4)) - 32);
#endif
}

void main()
{
	const uint e = gl_GlobalInvocationID.x;
	const uint i = gl_WorkGroupID.y;
	if (e >= pc.ne0 || i >= pc.n)
		return;
	const int id = ids[pc.ids_off + i];
#if defined(SCATTER)
	if (id < 0 || uint(id) >= pc.nrows)
		return;
	dst[pc.d_off + uint(id) * pc.d_stride + e] = t[pc.t_off + i * pc.t_stride + e];
#else
	const uint di = pc.d_off + i * pc.d_stride + e;
	if (id < 0 || uint(id) >= pc.n_table) {
		if (pc.r0 == 0)
			dst[di] = 0.0;
		return;
	}
	if (uint(id) < pc.r0 || uint(id) - pc.r0 >= pc.nrows)
		return;
	const uint ib = pc.t_off + (uint(id) - pc.r0) * pc.t_stride + e / BLOCK_ELEMS;
	dst[di] = elem(ib, e % BLOCK_ELEMS);
#endif
}
