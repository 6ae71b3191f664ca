// shaders/mul_mat_w.glsl — the weight side of mul_mat*.comp: binding 0 as
// blocks of the weight type and load_w8(), eight consecutive weights of one
// row dequantized to f32. Needs types.glsl, the push block `pc` (K) and one
// of -DW_F32 | -DW_F16 | -DW_BF16 | -DW_Q8_0 | -DW_Q4_0 | -DW_Q6_K.

#if defined(W_F32)
#define WBLOCK float
#elif defined(W_F16)
#define WBLOCK float16_t
#elif defined(W_BF16)
#define WBLOCK uint16_t
#elif defined(W_Q8_0)
#define WBLOCK block_q8_0
#elif defined(W_Q4_0)
#define WBLOCK block_q4_0
#elif defined(W_Q6_K)
#define WBLOCK block_q6_K
#else
#error "define one of W_F32 W_F16 W_BF16 W_Q8_0 W_Q4_0 W_Q6_K"
#endif

layout(std430, binding = 0) readonly buffer W { WBLOCK w[]; };

// Weights k .. k+7 of the row whose first unit is w[row]; k is a multiple of
// 8. Float rows may end anywhere (zeros past K); quantized rows are whole
// blocks, so k < K means all eight exist.
void load_w8(uint row, uint k, out float v[8])
{
#if defined(W_F32) || defined(W_F16) || defined(W_BF16)
	for (uint j = 0; j < 8; j++) {
		if (k + j < pc.K) {
#if defined(W_BF16)
			v[j] = uintBitsToFloat(uint(w[row + k + j]) << 16);
#else
			v[j] = float(w[row + k + j]);
#endif
		} else {
			v[j] = 0.0;
		}
	}
#elif defined(W_Q8_0)
	const uint ib = row + k / QK8_0, e = k % QK8_0;
	const float d = float(w[ib].d);
	for (uint j = 0; j < 8; j++)
		v[j] = float(int(w[ib].qs[e + j])) * d;
#elif defined(W_Q4_0)
	// elements 0..15: low nibbles of qs[0..15]; 16..31: high nibbles
	const uint ib = row + k / QK4_0, e = k % QK4_0;
	const float d = float(w[ib].d);
	const uint shift = e >= 16 ? 4 : 0;
	for (uint j = 0; j < 8; j++)
		v[j] = float(int((uint(w[ib].qs[(e % 16) + j]) >> shift) & 15u) - 8) * d;
#elif defined(W_Q6_K)
	// element e = 128h + 32q + l: low 4 bits in ql[64h + 32(q&1) + l] at
	// shift 4(q>>1), high 2 bits in qh[32h + l] at shift 2q, scale 8h + 2q + l/16
	const uint ib = row + k / QK_K, e = k % QK_K;
	const uint h = e / 128, q = (e % 128) / 32, l0 = e % 32;
	const float ds = float(w[ib].d) * float(int(w[ib].scales[8 * h + 2 * q + l0 / 16]));
	const uint lo_shift = (q >> 1) * 4, hi_shift = 2 * q;
	for (uint j = 0; j < 8; j++) {
		const uint l = l0 + j;
		const uint lo = (uint(w[ib].ql[64 * h + 32 * (q & 1u) + l]) >> lo_shift) & 15u;
		const uint hi = (uint(w[ib].qh[32 * h + l]) >> hi_shift) & 3u;
		v[j] = ds * float(int(lo | (hi << 4)) - 32);
	}
#endif
}
