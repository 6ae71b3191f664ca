// shaders/mul_mat_vec.glsl — the body shared by mul_mat_vec.comp and
// mul_mat_vec_fused.comp: y[c][r] = sum_k W[r][k] * x[c][k] for up to NCOLS
// vectors per workgroup, each weight read once and used for all of them.
//
// Layout: one subgroup per row of W, ROWS rows per workgroup (a subgroup
// takes rows gl_SubgroupID, + gl_NumSubgroups, ... so any subgroup size
// works); the lanes split the row into chunks (32 elements of a quant type,
// one element of F32/F16) and meet in one subgroupAdd: no shared memory, no
// barrier. Quant blocks (18, 34, 210 bytes, only 2-byte aligned) are read as
// 16-bit words, each once; x (and the norm weight) as vec4 where the binding
// offsets allow it.
//
// The including file declares the push block pc (ne0 nrows ncols w_off
// w_stride x_off x_stride y_off y_stride; with FUSED also flags nw_off r_off
// r_stride w2_off eps) and defines FUSED or not.
#extension GL_EXT_shader_16bit_storage : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;               // workgroup size: whole subgroups
layout(constant_id = 1) const uint NCOLS = 1; // vectors per workgroup
layout(constant_id = 2) const uint ROWS = 4;  // rows of W per workgroup

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
// Chunk t of a row (32 elements in 4 groups of 8 consecutive ones): wv gets
// the quants as floats (group g in wv[8g .. 8g+7]), sc[g] the scale of group
// g, e[g] the element offset of group g in the row.
void dequant(const bool second, uint base, uint t, out float wv[32], out float sc[4], out uint e[4])
{
#if defined(W_Q4_0)
	// qs byte j: element j (low nibble) and 16 + j (high)
	const uint b = base + t * WU16;
	const float d = unpackHalf2x16(LD(second, b)).x;
	[[unroll]] for (uint k = 0; k < 8u; k++) {
		const uint q = LD(second, b + 1u + k);
		wv[2u * k] = float(int(q & 15u) - 8);
		wv[2u * k + 1u] = float(int((q >> 8) & 15u) - 8);
		wv[16u + 2u * k] = float(int((q >> 4) & 15u) - 8);
		wv[17u + 2u * k] = float(int((q >> 12) & 15u) - 8);
	}
	[[unroll]] for (uint g = 0; g < 4u; g++) {
		sc[g] = d;
		e[g] = t * 32u + 8u * g;
	}
#elif defined(W_Q8_0)
	const uint b = base + t * WU16;
	const float d = unpackHalf2x16(LD(second, b)).x;
	[[unroll]] for (uint k = 0; k < 16u; k++) {
		const int q = int(LD(second, b + 1u + k));
		wv[2u * k] = float(bitfieldExtract(q, 0, 8));
		wv[2u * k + 1u] = float(bitfieldExtract(q, 8, 8));
	}
	[[unroll]] for (uint g = 0; g < 4u; g++) {
		sc[g] = d;
		e[g] = t * 32u + 8u * g;
	}
#elif defined(W_Q6_K)
	// Chunk u of a block: half h, positions l0 .. l0+7 of each of the four
	// quarters g (elements 128h + 32g + l0 + j); quarter g takes the low
	// (g < 2) or high nibble of ql[64h + 32(g & 1) + l] and bits 2g of
	// qh[32h + l]; its scale is scales[8h + 2g + l0 / 16].
	const uint blk = t >> 3, u = t & 7u, h = u >> 2, l0 = (u & 3u) * 8u, s = l0 >> 4;
	const uint b = base + blk * WU16;
	[[unroll]] for (uint k = 0; k < 4u; k++) {
		const uint qa = LD(second, b + 32u * h + l0 / 2u + k);
		const uint qb = LD(second, b + 32u * h + 16u + l0 / 2u + k);
		const uint qh = LD(second, b + 64u + 16u * h + l0 / 2u + k);
		[[unroll]] for (uint i = 0; i < 2u; i++) {
			const uint A = (qa >> (8u * i)) & 255u, B = (qb >> (8u * i)) & 255u;
			const uint H = (qh >> (8u * i)) & 255u;
			const uint j = 2u * k + i;
			wv[j] = float(int((A & 15u) | ((H & 3u) << 4)) - 32);
			wv[8u + j] = float(int((B & 15u) | (((H >> 2) & 3u) << 4)) - 32);
			wv[16u + j] = float(int((A >> 4) | (((H >> 4) & 3u) << 4)) - 32);
			wv[24u + j] = float(int((B >> 4) | (((H >> 6) & 3u) << 4)) - 32);
		}
	}
	const float d = unpackHalf2x16(LD(second, b + 104u)).x;
	[[unroll]] for (uint g = 0; g < 4u; g++) {
		const int sw = int(LD(second, b + 96u + 4u * h + g));
		sc[g] = d * float(bitfieldExtract(sw, int(8u * s), 8));
		e[g] = blk * 256u + 128u * h + 32u * g + l0;
	}
#endif
}
#endif

void main()
{
	const uint lane = gl_SubgroupInvocationID, sgs = gl_SubgroupSize;
	const uint col0 = gl_WorkGroupID.y * NCOLS;
	const uint nc = min(NCOLS, pc.ncols - col0);
	const bool norm = (FLAGS & FLAG_NORM) != 0u, glu = (FLAGS & FLAG_GLU) != 0u;
	const bool xal = ((pc.x_off | pc.x_stride) & 3u) == 0u;
#if defined(FUSED)
	const bool nal = (pc.nw_off & 3u) == 0u;
#endif

	for (uint rr = gl_SubgroupID; rr < ROWS; rr += gl_NumSubgroups) {
		const uint row = gl_WorkGroupID.x * ROWS + rr;
		if (row >= pc.nrows)
			break; // the same for the whole subgroup
		float acc[NCOLS], acc2[NCOLS], ss[NCOLS];
		[[unroll]] for (uint c = 0; c < NCOLS; c++) {
			acc[c] = 0.0;
			acc2[c] = 0.0;
			ss[c] = 0.0;
		}
#if QUANT
		const uint wbase = (pc.w_off + row * pc.w_stride) * WU16;
#if defined(FUSED)
		const uint w2base = (pc.w2_off + row * pc.w_stride) * WU16;
#endif
		const uint chunks = pc.ne0 / 32u;
		for (uint t = lane; t < chunks; t += sgs) {
			float wv[32], sc[4], wv2[32], sc2[4];
			uint e[4];
			dequant(false, wbase, t, wv, sc, e);
#if defined(FUSED)
			if (glu)
				dequant(true, w2base, t, wv2, sc2, e);
#endif
			[[unroll]] for (uint c = 0; c < NCOLS; c++) {
				if (c >= nc)
					break;
				const uint xb = pc.x_off + (col0 + c) * pc.x_stride;
				float s = 0.0, s2 = 0.0, q = 0.0;
				[[unroll]] for (uint g = 0; g < 4u; g++) {
					vec4 xa, xc;
					const uint i = xb + e[g];
					if (xal) {
						xa = x4[i >> 2];
						xc = x4[(i >> 2) + 1u];
					} else {
						xa = vec4(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
						xc = vec4(x[i + 4u], x[i + 5u], x[i + 6u], x[i + 7u]);
					}
#if defined(FUSED)
					if (norm) {
						q += dot(xa, xa) + dot(xc, xc);
						const uint n = pc.nw_off + e[g];
						if (nal) {
							xa *= nw4[n >> 2];
							xc *= nw4[(n >> 2) + 1u];
						} else {
							xa *= vec4(nw[n], nw[n + 1u], nw[n + 2u], nw[n + 3u]);
							xc *= vec4(nw[n + 4u], nw[n + 5u], nw[n + 6u], nw[n + 7u]);
						}
					}
					if (glu)
						s2 += sc2[g] * (dot(vec4(wv2[8u * g], wv2[8u * g + 1u], wv2[8u * g + 2u], wv2[8u * g + 3u]), xa) +
								dot(vec4(wv2[8u * g + 4u], wv2[8u * g + 5u], wv2[8u * g + 6u], wv2[8u * g + 7u]), xc));
#endif
					s += sc[g] * (dot(vec4(wv[8u * g], wv[8u * g + 1u], wv[8u * g + 2u], wv[8u * g + 3u]), xa) +
						      dot(vec4(wv[8u * g + 4u], wv[8u * g + 5u], wv[8u * g + 6u], wv[8u * g + 7u]), xc));
				}
				acc[c] += s;
				acc2[c] += s2;
				ss[c] += q;
			}
		}
#else
		const uint wbase = pc.w_off + row * pc.w_stride;
#if defined(FUSED)
		const uint w2base = pc.w2_off + row * pc.w_stride;
#endif
		for (uint k = lane; k < pc.ne0; k += sgs) {
			const float wk = LDF(false, wbase + k);
#if defined(FUSED)
			const float wk2 = glu ? LDF(true, w2base + k) : 0.0;
#endif
			[[unroll]] for (uint c = 0; c < NCOLS; c++) {
				if (c >= nc)
					break;
				float xv = x[pc.x_off + (col0 + c) * pc.x_stride + k];
#if defined(FUSED)
				if (norm) {
					ss[c] += xv * xv;
					xv *= nw[pc.nw_off + k];
				}
				acc2[c] += wk2 * xv;
#endif
				acc[c] += wk * xv;
			}
		}
#endif
		// One subgroupAdd per sum; lane c % size writes vector c.
		[[unroll]] for (uint c = 0; c < NCOLS; c++) {
			if (c >= nc)
				break;
			float a = subgroupAdd(acc[c]);
#if defined(FUSED)
			float b = glu ? subgroupAdd(acc2[c]) : 0.0;
			if (norm) {
				const float scale = 1.0 / sqrt(subgroupAdd(ss[c]) / float(pc.ne0) + pc.eps);
				a *= scale;
				b *= scale;
			}
			if (glu)
				a = a / (1.0 + exp(-a)) * b;
#endif
			if (lane == c % sgs) {
				const uint col = col0 + c;
#if defined(FUSED)
				if ((FLAGS & FLAG_ADD) != 0u)
					a += r[pc.r_off + col * pc.r_stride + row];
#endif
				y[pc.y_off + col * pc.y_stride + row] = a;
			}
		}
	}
}
