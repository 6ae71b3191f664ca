// shaders/mul_mat_vec.glsl — the body shared by mul_mat_vec.comp and
// mul_mat_vec_fused.comp: y[c][r] = sum_k W[r][k] * x[c][k] for up to NCOLS
// vectors per workgroup.
//
// Layout: LPR lanes of a subgroup per row of W (LPR_LONG for rows of >= LONG_K
// elements; powers of two dividing the subgroup size), workgroup size / lanes
// rows per workgroup (the host: gpu_pipeline_mmv_rows); the lanes
// split the row into chunks (32 elements of a quant type, one element of
// F32/F16) and meet in a shuffle-xor sum: no shared memory, no barrier.
// Quant blocks (18, 34, 210 bytes, only 2-byte aligned) are read as 16-bit
// words, each once per vector (after the first from L1); x (and the norm
// weight) as vec4 where the binding offsets allow it.
//
// The including file declares the push block pc (ne0 nrows ncols w_off
// w_stride x_off x_stride y_off y_stride; with FUSED also flags nw_off r_off
// r_stride w2_off eps) and defines FUSED or not.
#extension GL_EXT_shader_16bit_storage : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;               // workgroup size: whole subgroups
layout(constant_id = 1) const uint NCOLS = 1; // vectors per workgroup
layout(constant_id = 2) const uint ROWS = 8;  // rows of W per workgroup: size / LPR
layout(constant_id = 3) const uint LPR = 16;  // lanes per row
layout(constant_id = 4) const uint LPR_LONG = 32; // lanes per row when ne0 >= LONG_K
layout(constant_id = 5) const uint LONG_K = 2048;

#define FLAG_NORM 1u
#define FLAG_GLU 2u
#define FLAG_ADD 4u

#if defined(W_F32)
#define WTYPE float
#define QUANT 0
#elif defined(W_F16)
#define WTYPE float16_t
#define QUANT 0
#elif defined(W_Q8_0)
#define WTYPE uint16_t
#define QUANT 1
#define WU16 17u          // 16-bit words per block
#define BLOCK_ELEMS 32u
#elif defined(W_Q4_0)
#define WTYPE uint16_t
#define QUANT 1
#define WU16 9u
#define BLOCK_ELEMS 32u
#elif defined(W_Q6_K)
#define WTYPE uint16_t
#define QUANT 1
#define WU16 105u
#define BLOCK_ELEMS 256u
#else
#error "define one of W_F32 W_F16 W_Q8_0 W_Q4_0 W_Q6_K"
#endif

layout(std430, binding = 0) readonly buffer W { WTYPE w[]; };
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
#if defined(FUSED)
layout(std430, binding = 3) readonly buffer NW { float nw[]; };
layout(std430, binding = 3) readonly buffer NW4 { vec4 nw4[]; };
layout(std430, binding = 4) readonly buffer R { float r[]; };
layout(std430, binding = 5) readonly buffer W2 { WTYPE w2[]; };
#define FLAGS pc.flags
#else
#define FLAGS 0u
#endif

// Word i of W (second: of W2, the GLU's up matrix; calls pass a constant).
#if defined(FUSED)
#define LD(second, i) ((second) ? uint(w2[i]) : uint(w[i]))
#define LDF(second, i) ((second) ? float(w2[i]) : float(w[i]))
#else
#define LD(second, i) uint(w[i])
#define LDF(second, i) float(w[i])
#endif

#if QUANT
// Chunk t of a row: 32 elements in 4 groups of 8 consecutive ones. Group g
// starts at element e[g] of the row and has scale sc[g]; its quants are
// qe[g] (elements 0, 2, 4, 6 of the group) and qo[g] (1, 3, 5, 7): the low
// and high bytes of the 16-bit words, so no byte is shuffled. Written out
// without loops: nothing here may end up in indexed (local) memory.
struct chunk {
	vec4 qe[4], qo[4];
	vec4 sc;
	uvec4 e;
};

chunk dequant(const bool second, uint base, uint t)
{
	chunk k;
#if defined(W_Q4_0)
	// qs byte j: element j (low nibble) and 16 + j (high)
	const uint b = base + t * WU16;
	const float d = unpackHalf2x16(LD(second, b)).x;
	const uvec4 qa = uvec4(LD(second, b + 1u), LD(second, b + 2u), LD(second, b + 3u), LD(second, b + 4u));
	const uvec4 qb = uvec4(LD(second, b + 5u), LD(second, b + 6u), LD(second, b + 7u), LD(second, b + 8u));
	k.qe[0] = vec4(qa & 15u) - 8.0;
	k.qo[0] = vec4((qa >> 8) & 15u) - 8.0;
	k.qe[1] = vec4(qb & 15u) - 8.0;
	k.qo[1] = vec4((qb >> 8) & 15u) - 8.0;
	k.qe[2] = vec4((qa >> 4) & 15u) - 8.0;
	k.qo[2] = vec4((qa >> 12) & 15u) - 8.0;
	k.qe[3] = vec4((qb >> 4) & 15u) - 8.0;
	k.qo[3] = vec4((qb >> 12) & 15u) - 8.0;
	k.sc = vec4(d);
	k.e = t * 32u + uvec4(0u, 8u, 16u, 24u);
#elif defined(W_Q8_0)
	const uint b = base + t * WU16;
	const float d = unpackHalf2x16(LD(second, b)).x;
#define Q8W(g) ivec4(LD(second, b + 1u + 4u * g), LD(second, b + 2u + 4u * g), \
		      LD(second, b + 3u + 4u * g), LD(second, b + 4u + 4u * g))
	const ivec4 q0 = Q8W(0u), q1 = Q8W(1u), q2 = Q8W(2u), q3 = Q8W(3u);
#undef Q8W
	k.qe[0] = vec4(bitfieldExtract(q0, 0, 8));
	k.qo[0] = vec4(bitfieldExtract(q0, 8, 8));
	k.qe[1] = vec4(bitfieldExtract(q1, 0, 8));
	k.qo[1] = vec4(bitfieldExtract(q1, 8, 8));
	k.qe[2] = vec4(bitfieldExtract(q2, 0, 8));
	k.qo[2] = vec4(bitfieldExtract(q2, 8, 8));
	k.qe[3] = vec4(bitfieldExtract(q3, 0, 8));
	k.qo[3] = vec4(bitfieldExtract(q3, 8, 8));
	k.sc = vec4(d);
	k.e = t * 32u + uvec4(0u, 8u, 16u, 24u);
#elif defined(W_Q6_K)
	// Chunk u of a block: half h, positions l0 .. l0+7 of each quarter g
	// (elements 128h + 32g + l0 + j). Quarter g takes the low (g < 2) or
	// high nibble of ql[64h + 32(g & 1) + l] and bits 2g of qh[32h + l];
	// its scale is scales[8h + 2g + l0 / 16].
	const uint blk = t >> 3, u = t & 7u, h = u >> 2, l0 = (u & 3u) * 8u, s = l0 >> 4;
	const uint b = base + blk * WU16, o = b + 32u * h + l0 / 2u;
	const uvec4 qa = uvec4(LD(second, o), LD(second, o + 1u), LD(second, o + 2u), LD(second, o + 3u));
	const uvec4 qb = uvec4(LD(second, o + 16u), LD(second, o + 17u), LD(second, o + 18u), LD(second, o + 19u));
	const uint oh = b + 64u + 16u * h + l0 / 2u;
	const uvec4 qh = uvec4(LD(second, oh), LD(second, oh + 1u), LD(second, oh + 2u), LD(second, oh + 3u));
	k.qe[0] = vec4((qa & 15u) | ((qh & 3u) << 4)) - 32.0;
	k.qo[0] = vec4(((qa >> 8) & 15u) | (((qh >> 8) & 3u) << 4)) - 32.0;
	k.qe[1] = vec4((qb & 15u) | (((qh >> 2) & 3u) << 4)) - 32.0;
	k.qo[1] = vec4(((qb >> 8) & 15u) | (((qh >> 10) & 3u) << 4)) - 32.0;
	k.qe[2] = vec4(((qa >> 4) & 15u) | (((qh >> 4) & 3u) << 4)) - 32.0;
	k.qo[2] = vec4(((qa >> 12) & 15u) | (((qh >> 12) & 3u) << 4)) - 32.0;
	k.qe[3] = vec4(((qb >> 4) & 15u) | (((qh >> 6) & 3u) << 4)) - 32.0;
	k.qo[3] = vec4(((qb >> 12) & 15u) | (((qh >> 14) & 3u) << 4)) - 32.0;
	const float d = unpackHalf2x16(LD(second, b + 104u)).x;
	const uint os = b + 96u + 4u * h;
	const ivec4 sw = ivec4(LD(second, os), LD(second, os + 1u), LD(second, os + 2u), LD(second, os + 3u));
	k.sc = d * vec4(bitfieldExtract(sw, int(8u * s), 8));
	k.e = blk * 256u + 128u * h + l0 + uvec4(0u, 32u, 64u, 96u);
#endif
	return k;
}

// Elements e .. e+7 of the float arrays behind x (or nw): as two vec4 loads
// when the binding offsets are multiples of 4 floats.
#define LOAD8(arr, arr4, al, i, va, vb) \
	if (al) { \
		va = arr4[(i) >> 2]; \
		vb = arr4[((i) >> 2) + 1u]; \
	} else { \
		va = vec4(arr[i], arr[(i) + 1u], arr[(i) + 2u], arr[(i) + 3u]); \
		vb = vec4(arr[(i) + 4u], arr[(i) + 5u], arr[(i) + 6u], arr[(i) + 7u]); \
	}
#endif

#if QUANT
// a (and b, the GLU's second product) += the chunk's dot with vector xb;
// q += its Σx² when norm. glu2 is a constant at every call.
void chunk_dot(const chunk k, const chunk k2, const bool glu2, const bool norm, const uint xb,
	       const bool xal, const bool nal, inout float a, inout float b, inout float q)
{
	vec4 xa, xc, na, nb;
	// group G: x as even / odd elements to match qe / qo
#if defined(FUSED)
#define GROUP(G) \
	LOAD8(x, x4, xal, xb + k.e[G], xa, xc) \
	if (norm) { \
		q += dot(xa, xa) + dot(xc, xc); \
		LOAD8(nw, nw4, nal, pc.nw_off + k.e[G], na, nb) \
		xa *= na; \
		xc *= nb; \
	} \
	a += k.sc[G] * (dot(k.qe[G], vec4(xa.xz, xc.xz)) + dot(k.qo[G], vec4(xa.yw, xc.yw))); \
	if (glu2) \
		b += k2.sc[G] * (dot(k2.qe[G], vec4(xa.xz, xc.xz)) + dot(k2.qo[G], vec4(xa.yw, xc.yw)));
#else
#define GROUP(G) \
	LOAD8(x, x4, xal, xb + k.e[G], xa, xc) \
	a += k.sc[G] * (dot(k.qe[G], vec4(xa.xz, xc.xz)) + dot(k.qo[G], vec4(xa.yw, xc.yw)));
#endif
	GROUP(0)
	GROUP(1)
	GROUP(2)
	GROUP(3)
#undef GROUP
}
#endif

// The sum over the lpr lanes of one row.
float row_sum(float v, const uint lpr)
{
	for (uint o = lpr / 2u; o > 0u; o >>= 1)
		v += subgroupShuffleXor(v, o);
	return v;
}

void main()
{
	// LPR lanes per row (a power of two that divides the subgroup size):
	// rows of ~1024 elements are 32 chunks, two per lane, whose loads are
	// issued together. Columns are the outer loop, so nothing is kept per
	// column in (indexed) registers: the row's weights are read from memory
	// for the first vector and from L1 for the others.
	// Long rows (w2: 4608) take LPR_LONG lanes (the host agrees:
	// gpu_pipeline_mmv_rows), so there are more warps and fewer dependent
	// loads per lane.
	const uint lpr = pc.ne0 >= LONG_K ? LPR_LONG : LPR;
	const uint nrow_wg = gl_WorkGroupSize.x / lpr;
	const uint lane = gl_SubgroupInvocationID, lr = lane % lpr;
	const uint slot = gl_SubgroupID * (gl_SubgroupSize / lpr) + lane / lpr;
	const uint row_raw = gl_WorkGroupID.x * nrow_wg + slot;
	const bool valid = slot < nrow_wg && row_raw < pc.nrows;
	const uint row = valid ? row_raw : 0u; // lanes past the end add row 0 and write nothing
	const uint col0 = gl_WorkGroupID.y * NCOLS;
	const uint nc = min(NCOLS, pc.ncols - col0);
	const bool norm = (FLAGS & FLAG_NORM) != 0u, glu = (FLAGS & FLAG_GLU) != 0u;
	const bool xal = ((pc.x_off | pc.x_stride) & 3u) == 0u;
#if defined(FUSED)
	const bool nal = (pc.nw_off & 3u) == 0u;
#else
	const bool nal = false;
#endif
#if QUANT
	const uint wbase = (pc.w_off + row * pc.w_stride) * WU16;
#if defined(FUSED)
	const uint w2base = (pc.w2_off + row * pc.w_stride) * WU16;
#endif
	const uint chunks = pc.ne0 / 32u;
#else
	const uint wbase = pc.w_off + row * pc.w_stride;
#if defined(FUSED)
	const uint w2base = pc.w2_off + row * pc.w_stride;
#endif
#endif

	for (uint c = 0; c < nc; c++) {
		const uint col = col0 + c, xb = pc.x_off + col * pc.x_stride;
		float a = 0.0, b = 0.0, q = 0.0;
#if QUANT
#if defined(FUSED)
		if (glu) {
			uint t = lr;
			for (; t + lpr < chunks; t += 2u * lpr) {
				const chunk ka = dequant(false, wbase, t), ka2 = dequant(true, w2base, t);
				const chunk kb = dequant(false, wbase, t + lpr), kb2 = dequant(true, w2base, t + lpr);
				chunk_dot(ka, ka2, true, norm, xb, xal, nal, a, b, q);
				chunk_dot(kb, kb2, true, norm, xb, xal, nal, a, b, q);
			}
			if (t < chunks) {
				const chunk k = dequant(false, wbase, t), k2 = dequant(true, w2base, t);
				chunk_dot(k, k2, true, norm, xb, xal, nal, a, b, q);
			}
		} else
#endif
		{
			// two chunks per lane loaded before their sums (4 measured slower)
			uint t = lr;
			for (; t + lpr < chunks; t += 2u * lpr) {
				const chunk ka = dequant(false, wbase, t), kb = dequant(false, wbase, t + lpr);
				chunk_dot(ka, ka, false, norm, xb, xal, nal, a, b, q);
				chunk_dot(kb, kb, false, norm, xb, xal, nal, a, b, q);
			}
			if (t < chunks) {
				const chunk k = dequant(false, wbase, t);
				chunk_dot(k, k, false, norm, xb, xal, nal, a, b, q);
			}
		}
#else
		for (uint k = lr; k < pc.ne0; k += lpr) {
			float xv = x[xb + k];
#if defined(FUSED)
			if (norm) {
				q += xv * xv;
				xv *= nw[pc.nw_off + k];
			}
			if (glu)
				b += LDF(true, w2base + k) * xv;
#endif
			a += LDF(false, wbase + k) * xv;
		}
#endif
		a = row_sum(a, lpr);
#if defined(FUSED)
		if (glu)
			b = row_sum(b, lpr);
		if (norm) {
			const float scale = 1.0 / sqrt(row_sum(q, lpr) / float(pc.ne0) + pc.eps);
			a *= scale;
			b *= scale;
		}
		if (glu)
			a = a / (1.0 + exp(-a)) * b;
#endif
		if (valid && lr == 0u) {
#if defined(FUSED)
			if ((FLAGS & FLAG_ADD) != 0u)
				a += r[pc.r_off + col * pc.r_stride + row];
#endif
			y[pc.y_off + col * pc.y_stride + row] = a;
		}
	}
}
