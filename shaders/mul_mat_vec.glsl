// shaders/mul_mat_vec.glsl — the body shared by mul_mat_vec.comp and
// mul_mat_vec_fused.comp: y[c][r] = sum_k W[r][k] * x[c][k] for up to NCOLS
// vectors per workgroup.
//
// Layout: LPR lanes of a subgroup per row of W (a power of two dividing the
// subgroup size), ROWS = workgroup size / LPR rows per workgroup; the lanes
// split the row into units (8 elements of a quant type, one element of
// F32/F16) and meet in a shuffle-xor sum: no shared memory, no barrier.
// A lane takes units of 8 elements (unit_q), neighbouring lanes neighbouring
// units, so x (and the norm weight, as vec4 where the binding offsets allow)
// is read coalesced. Quant blocks (18, 34, 210 bytes, only 2-byte aligned)
// are read as 16-bit words, each byte once per vector (after the first
// vector from L1).
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
// Unit u of a row: its elements 8u .. 8u+7, so that neighbouring lanes read
// neighbouring pieces of x (coalesced). qe gets the quants of the unit's
// elements 0, 2, 4, 6 and qo of 1, 3, 5, 7 (the low and high bytes of the
// 16-bit words: no byte shuffling), sc its scale.
void unit_q(const bool second, uint base, uint u, out vec4 qe, out vec4 qo, out float sc)
{
#if defined(W_Q4_0)
	// block u / 4, group g = u % 4: low (g < 2) or high nibbles of qs bytes
	// 8(g & 1) .. 8(g & 1) + 7
	const uint b = base + (u >> 2) * WU16, g = u & 3u, o = b + 1u + 4u * (g & 1u);
	const uint sh = 4u * (g >> 1);
	const uvec4 w4 = uvec4(LD(second, o), LD(second, o + 1u), LD(second, o + 2u), LD(second, o + 3u));
	qe = vec4((w4 >> sh) & 15u) - 8.0;
	qo = vec4((w4 >> (8u + sh)) & 15u) - 8.0;
	sc = unpackHalf2x16(LD(second, b)).x;
#elif defined(W_Q8_0)
	const uint b = base + (u >> 2) * WU16, o = b + 1u + 4u * (u & 3u);
	const ivec4 w4 = ivec4(LD(second, o), LD(second, o + 1u), LD(second, o + 2u), LD(second, o + 3u));
	qe = vec4(bitfieldExtract(w4, 0, 8));
	qo = vec4(bitfieldExtract(w4, 8, 8));
	sc = unpackHalf2x16(LD(second, b)).x;
#elif defined(W_Q6_K)
	// block u / 32; v = u % 32 = (half h, quarter q, l0 / 8): elements
	// 128h + 32q + l0 .. +7, the low (q < 2) or high nibbles of
	// ql[64h + 32(q & 1) + l] and bits 2q of qh[32h + l]; scale
	// scales[8h + 2q + l0 / 16].
	const uint v = u & 31u, h = v >> 4, q = (v >> 2) & 3u, l0 = (v & 3u) * 8u;
	const uint b = base + (u >> 5) * WU16;
	const uint ol = b + 32u * h + 16u * (q & 1u) + l0 / 2u, oh = b + 64u + 16u * h + l0 / 2u;
	const uvec4 ql = uvec4(LD(second, ol), LD(second, ol + 1u), LD(second, ol + 2u), LD(second, ol + 3u));
	const uvec4 qh = uvec4(LD(second, oh), LD(second, oh + 1u), LD(second, oh + 2u), LD(second, oh + 3u));
	const uint sl = 4u * (q >> 1), shh = 2u * q;
	qe = vec4(((ql >> sl) & 15u) | (((qh >> shh) & 3u) << 4)) - 32.0;
	qo = vec4(((ql >> (8u + sl)) & 15u) | (((qh >> (8u + shh)) & 3u) << 4)) - 32.0;
	const int sw = int(LD(second, b + 96u + 4u * h + q));
	sc = unpackHalf2x16(LD(second, b + 104u)).x * float(bitfieldExtract(sw, int(8u * (l0 >> 4)), 8));
#endif
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

// a (and b, the GLU's second product, when glu2) += unit u's dot with the
// vector at xb; q += its Σx² when norm.
void unit_dot(const vec4 qe, const vec4 qo, const float sc, const vec4 qe2, const vec4 qo2,
	      const float sc2, const bool glu2, const bool norm, const uint xb, const uint u,
	      const bool xal, const bool nal, inout float a, inout float b, inout float q)
{
	vec4 xa, xc;
	LOAD8(x, x4, xal, xb + 8u * u, xa, xc)
#if defined(FUSED)
	if (norm) {
		vec4 na, nb;
		q += dot(xa, xa) + dot(xc, xc);
		LOAD8(nw, nw4, nal, pc.nw_off + 8u * u, na, nb)
		xa *= na;
		xc *= nb;
	}
	if (glu2)
		b += sc2 * (dot(qe2, vec4(xa.xz, xc.xz)) + dot(qo2, vec4(xa.yw, xc.yw)));
#endif
	a += sc * (dot(qe, vec4(xa.xz, xc.xz)) + dot(qo, vec4(xa.yw, xc.yw)));
}
#endif

// The sum over the LPR lanes of one row.
float row_sum(float v)
{
	for (uint o = LPR / 2u; o > 0u; o >>= 1)
		v += subgroupShuffleXor(v, o);
	return v;
}

void main()
{
	// LPR lanes per row (a power of two that divides the subgroup size):
	// a row of 1024 elements is 128 units, 8 per lane, 4 of whose loads are
	// issued together. Columns are the outer loop, so nothing is kept per
	// column in (indexed) registers: the row's weights are read from memory
	// for the first vector and from L1 for the others.
	const uint lane = gl_SubgroupInvocationID, lr = lane % LPR;
	const uint slot = gl_SubgroupID * (gl_SubgroupSize / LPR) + lane / LPR;
	const uint row_raw = gl_WorkGroupID.x * ROWS + slot;
	const bool valid = slot < ROWS && row_raw < pc.nrows;
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
		// Four units per lane at a time (their loads issued together), then
		// the rest one by one.
		const uint units = pc.ne0 / 8u;
		uint u = lr;
#if defined(FUSED)
		if (glu) {
			for (; u < units; u += LPR) {
				vec4 qe, qo, qe2, qo2;
				float sc, sc2;
				unit_q(false, wbase, u, qe, qo, sc);
				unit_q(true, w2base, u, qe2, qo2, sc2);
				unit_dot(qe, qo, sc, qe2, qo2, sc2, true, norm, xb, u, xal, nal, a, b, q);
			}
		}
#endif
		for (; u + 3u * LPR < units; u += 4u * LPR) {
			vec4 qe0, qo0, qe1, qo1, qe2, qo2, qe3, qo3;
			float sc0, sc1, sc2, sc3;
			unit_q(false, wbase, u, qe0, qo0, sc0);
			unit_q(false, wbase, u + LPR, qe1, qo1, sc1);
			unit_q(false, wbase, u + 2u * LPR, qe2, qo2, sc2);
			unit_q(false, wbase, u + 3u * LPR, qe3, qo3, sc3);
			unit_dot(qe0, qo0, sc0, qe0, qo0, sc0, false, norm, xb, u, xal, nal, a, b, q);
			unit_dot(qe1, qo1, sc1, qe1, qo1, sc1, false, norm, xb, u + LPR, xal, nal, a, b, q);
			unit_dot(qe2, qo2, sc2, qe2, qo2, sc2, false, norm, xb, u + 2u * LPR, xal, nal, a, b, q);
			unit_dot(qe3, qo3, sc3, qe3, qo3, sc3, false, norm, xb, u + 3u * LPR, xal, nal, a, b, q);
		}
		for (; u < units; u += LPR) {
			vec4 qe, qo;
			float sc;
			unit_q(false, wbase, u, qe, qo, sc);
			unit_dot(qe, qo, sc, qe, qo, sc, false, norm, xb, u, xal, nal, a, b, q);
		}
#else
		for (uint k = lr; k < pc.ne0; k += LPR) {
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
		a = row_sum(a);
#if defined(FUSED)
		if (glu)
			b = row_sum(b);
		if (norm) {
			const float scale = 1.0 / sqrt(row_sum(q) / float(pc.ne0) + pc.eps);
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
