/* model/quant.c — type table, half-precision conversions, row
 * dequantization and reference quantization (spec §2). */
#include "model/quant.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <string.h>

/* The reference rounds every product before adding it; clang would fuse
 * a*b+c into FMA on targets that have it (gcc does not in ISO C mode). */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

static const struct tensor_type_info type_table[] = {
	[TENSOR_F32] = { "F32", 1, 4 },
	[TENSOR_F16] = { "F16", 1, 2 },
	[TENSOR_Q4_0] = { "Q4_0", QK4_0, sizeof(struct block_q4_0) },
	[TENSOR_Q4_1] = { "Q4_1", 32, sizeof(struct block_q4_1) },
	[TENSOR_Q5_0] = { "Q5_0", 32, sizeof(struct block_q5_0) },
	[TENSOR_Q5_1] = { "Q5_1", 32, sizeof(struct block_q5_1) },
	[TENSOR_Q8_0] = { "Q8_0", QK8_0, sizeof(struct block_q8_0) },
	[TENSOR_Q2_K] = { "Q2_K", QK_K, sizeof(struct block_q2_K) },
	[TENSOR_Q3_K] = { "Q3_K", QK_K, sizeof(struct block_q3_K) },
	[TENSOR_Q4_K] = { "Q4_K", QK_K, sizeof(struct block_q4_K) },
	[TENSOR_Q5_K] = { "Q5_K", QK_K, sizeof(struct block_q5_K) },
	[TENSOR_Q6_K] = { "Q6_K", QK_K, sizeof(struct block_q6_K) },
	[TENSOR_BF16] = { "BF16", 1, 2 },
};

const struct tensor_type_info *tensor_type_info(uint32_t type)
{
	if (type >= sizeof(type_table) / sizeof(type_table[0]) || !type_table[type].name)
		return NULL;
	return &type_table[type];
}

int tensor_row_bytes(uint32_t type, uint64_t ne0, uint64_t *bytes)
{
	const struct tensor_type_info *info = tensor_type_info(type);
	if (!info || ne0 % info->block_elems != 0)
		return -EINVAL;
	/* ne0 / block_elems * block_bytes cannot overflow for ne0 < 2^63 and
	 * block_bytes <= 210 only when ne0 / block_elems < 2^56; check it. */
	uint64_t blocks = ne0 / info->block_elems;
	if (blocks > UINT64_MAX / info->block_bytes)
		return -EINVAL;
	*bytes = blocks * info->block_bytes;
	return 0;
}

static uint32_t f32_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u;
}

static float bits_f32(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

float fp16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f;
	uint32_t mant = h & 0x3ff;
	if (exp == 0x1f) /* inf or NaN: keep the payload */
		return bits_f32(sign | 0x7f800000u | (mant << 13));
	if (exp == 0) {
		if (mant == 0)
			return bits_f32(sign);
		/* subnormal: mant * 2^-24, exact in f32 */
		float v = (float)mant * 5.9604644775390625e-08f;
		return sign ? -v : v;
	}
	return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t f32_to_fp16(float f)
{
	uint32_t u = f32_bits(f);
	uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
	uint32_t abs = u & 0x7fffffffu;
	if (abs >= 0x7f800000u) /* inf, NaN (quiet it, keep the top payload bits) */
		return sign | 0x7c00 | (abs > 0x7f800000u ? (uint16_t)(0x200 | ((abs >> 13) & 0x3ff)) : 0);
	if (abs >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
		return sign | 0x7c00;
	if (abs < 0x38800000u) { /* below the smallest normal half: subnormal or zero */
		if (abs < 0x33000000u) /* < 2^-25: rounds to zero */
			return sign;
		uint32_t e = abs >> 23;
		uint32_t m = (abs & 0x7fffff) | 0x800000;
		uint32_t shift = 126 - e; /* 14..24 */
		uint32_t half = m >> shift;
		uint32_t rem = m & ((1u << shift) - 1);
		uint32_t mid = 1u << (shift - 1);
		if (rem > mid || (rem == mid && (half & 1)))
			half++;
		return sign | (uint16_t)half;
	}
	uint32_t half = ((abs >> 13) - (112u << 10));
	uint32_t rem = abs & 0x1fff;
	if (rem > 0x1000 || (rem == 0x1000 && (half & 1)))
		half++; /* may carry into the exponent, which is still correct */
	return sign | (uint16_t)half;
}

float bf16_to_f32(uint16_t h)
{
	return bits_f32((uint32_t)h << 16);
}

uint16_t f32_to_bf16(float f)
{
	uint32_t u = f32_bits(f);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 64); /* quiet NaN */
	return (uint16_t)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
}

/* ---- dequantization (spec §2.3-§2.8) ---------------------------------
 * Each block function follows the spec's formula and evaluation order so
 * the results match llama.cpp's reference bit for bit. Integers are formed
 * first, converted to float once, then scaled. */

static uint32_t load_u32_le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void dequant_q4_0(const struct block_q4_0 *b, float *y)
{
	const float d = fp16_to_f32(b->d);
	for (int j = 0; j < 16; j++) {
		y[j] = (float)((b->qs[j] & 0x0F) - 8) * d;
		y[j + 16] = (float)((b->qs[j] >> 4) - 8) * d;
	}
}

static void dequant_q4_1(const struct block_q4_1 *b, float *y)
{
	const float d = fp16_to_f32(b->d);
	const float m = fp16_to_f32(b->m);
	for (int j = 0; j < 16; j++) {
		y[j] = (float)(b->qs[j] & 0x0F) * d + m;
		y[j + 16] = (float)(b->qs[j] >> 4) * d + m;
	}
}

static void dequant_q5_0(const struct block_q5_0 *b, float *y)
{
	const float d = fp16_to_f32(b->d);
	const uint32_t h = load_u32_le(b->qh);
	for (int j = 0; j < 16; j++) {
		int h0 = (int)((h >> j) & 1) << 4;
		int h1 = (int)((h >> (j + 16)) & 1) << 4;
		y[j] = (float)(((b->qs[j] & 0x0F) | h0) - 16) * d;
		y[j + 16] = (float)(((b->qs[j] >> 4) | h1) - 16) * d;
	}
}

static void dequant_q5_1(const struct block_q5_1 *b, float *y)
{
	const float d = fp16_to_f32(b->d);
	const float m = fp16_to_f32(b->m);
	const uint32_t h = load_u32_le(b->qh);
	for (int j = 0; j < 16; j++) {
		int h0 = (int)((h >> j) & 1) << 4;
		int h1 = (int)((h >> (j + 16)) & 1) << 4;
		y[j] = (float)((b->qs[j] & 0x0F) | h0) * d + m;
		y[j + 16] = (float)((b->qs[j] >> 4) | h1) * d + m;
	}
}

static void dequant_q8_0(const struct block_q8_0 *b, float *y)
{
	const float d = fp16_to_f32(b->d);
	for (int j = 0; j < QK8_0; j++)
		y[j] = (float)b->qs[j] * d;
}

static void dequant_q2_K(const struct block_q2_K *b, float *y)
{
	const float d = fp16_to_f32(b->d);
	const float dmin = fp16_to_f32(b->dmin);
	const uint8_t *q = b->qs;
	int is = 0;
	for (int half = 0; half < 2; half++) {
		for (int shift = 0; shift < 8; shift += 2) {
			for (int part = 0; part < 2; part++) {
				uint8_t sc = b->scales[is++];
				float dl = d * (float)(sc & 0x0F);
				float ml = dmin * (float)(sc >> 4);
				for (int l = 0; l < 16; l++)
					*y++ = dl * (float)((q[l + 16 * part] >> shift) & 3) - ml;
			}
		}
		q += 32;
	}
}

static void dequant_q3_K(const struct block_q3_K *b, float *y)
{
	const float d = fp16_to_f32(b->d);
	uint32_t a0 = load_u32_le(b->scales);
	uint32_t a1 = load_u32_le(b->scales + 4);
	uint32_t t = load_u32_le(b->scales + 8);
	uint32_t aux[4] = {
		(a0 & 0x0F0F0F0Fu) | (((t >> 0) & 0x03030303u) << 4),
		(a1 & 0x0F0F0F0Fu) | (((t >> 2) & 0x03030303u) << 4),
		((a0 >> 4) & 0x0F0F0F0Fu) | (((t >> 4) & 0x03030303u) << 4),
		((a1 >> 4) & 0x0F0F0F0Fu) | (((t >> 6) & 0x03030303u) << 4),
	};
	int8_t sc[16];
	for (int i = 0; i < 16; i++)
		sc[i] = (int8_t)(uint8_t)(aux[i / 4] >> (8 * (i % 4)));

	const uint8_t *q = b->qs;
	uint8_t m = 1;
	int is = 0;
	for (int half = 0; half < 2; half++) {
		for (int shift = 0; shift < 8; shift += 2) {
			for (int part = 0; part < 2; part++) {
				float dl = d * (float)(sc[is++] - 32);
				for (int l = 16 * part; l < 16 * part + 16; l++) {
					int v = ((q[l] >> shift) & 3) - ((b->hmask[l] & m) ? 0 : 4);
					*y++ = dl * (float)v;
				}
			}
			m = (uint8_t)(m << 1);
		}
		q += 32;
	}
}

/* 6-bit scale and min of sub-block s of a Q4_K/Q5_K super-block. */
static void k_scale_min(int s, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
	if (s < 4) {
		*sc = q[s] & 63;
		*m = q[s + 4] & 63;
	} else {
		*sc = (uint8_t)((q[s + 4] & 0x0F) | ((q[s - 4] >> 6) << 4));
		*m = (uint8_t)((q[s + 4] >> 4) | ((q[s] >> 6) << 4));
	}
}

static void dequant_q4_K(const struct block_q4_K *b, float *y)
{
	const float d = fp16_to_f32(b->d);
	const float dmin = fp16_to_f32(b->dmin);
	for (int c = 0; c < 4; c++) {
		uint8_t sc, m;
		k_scale_min(2 * c, b->scales, &sc, &m);
		float d1 = d * (float)sc, m1 = dmin * (float)m;
		k_scale_min(2 * c + 1, b->scales, &sc, &m);
		float d2 = d * (float)sc, m2 = dmin * (float)m;
		const uint8_t *q = b->qs + 32 * c;
		for (int l = 0; l < 32; l++) {
			y[64 * c + l] = d1 * (float)(q[l] & 0x0F) - m1;
			y[64 * c + 32 + l] = d2 * (float)(q[l] >> 4) - m2;
		}
	}
}

static void dequant_q5_K(const struct block_q5_K *b, float *y)
{
	const float d = fp16_to_f32(b->d);
	const float dmin = fp16_to_f32(b->dmin);
	for (int c = 0; c < 4; c++) {
		uint8_t sc, m;
		k_scale_min(2 * c, b->scales, &sc, &m);
		float d1 = d * (float)sc, m1 = dmin * (float)m;
		k_scale_min(2 * c + 1, b->scales, &sc, &m);
		float d2 = d * (float)sc, m2 = dmin * (float)m;
		const uint8_t u1 = (uint8_t)(1u << (2 * c)), u2 = (uint8_t)(2u << (2 * c));
		const uint8_t *q = b->qs + 32 * c;
		for (int l = 0; l < 32; l++) {
			y[64 * c + l] = d1 * (float)((q[l] & 0x0F) + ((b->qh[l] & u1) ? 16 : 0)) - m1;
			y[64 * c + 32 + l] = d2 * (float)((q[l] >> 4) + ((b->qh[l] & u2) ? 16 : 0)) - m2;
		}
	}
}

static void dequant_q6_K(const struct block_q6_K *b, float *y)
{
	const float d = fp16_to_f32(b->d);
	for (int n = 0; n < 2; n++) {
		const uint8_t *ql = b->ql + 64 * n;
		const uint8_t *qh = b->qh + 32 * n;
		const int8_t *sc = b->scales + 8 * n;
		float *yy = y + 128 * n;
		for (int l = 0; l < 32; l++) {
			int is = l / 16;
			int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
			int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
			int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
			int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
			yy[l] = d * (float)sc[is + 0] * (float)q1;
			yy[l + 32] = d * (float)sc[is + 2] * (float)q2;
			yy[l + 64] = d * (float)sc[is + 4] * (float)q3;
			yy[l + 96] = d * (float)sc[is + 6] * (float)q4;
		}
	}
}

int dequantize_row(uint32_t type, const void *src, float *dst, uint64_t n)
{
	const struct tensor_type_info *info = tensor_type_info(type);
	if (!info || n % info->block_elems != 0)
		return -EINVAL;
	const uint8_t *p = src;
	const uint64_t nb = n / info->block_elems;
	const uint32_t be = info->block_elems;

	/* Blocks are read through memcpy: src need not be aligned (GGUF data
	 * is 32-aligned per tensor, but rows of odd-sized blocks are not). */
	if (type == TENSOR_F32) {
		memcpy(dst, src, n * sizeof(float));
		return 0;
	}
	for (uint64_t i = 0; i < nb; i++, p += info->block_bytes) {
		float *y = dst + i * be;
		switch (type) {
		case TENSOR_F16:
		case TENSOR_BF16: {
			uint16_t h;
			memcpy(&h, p, 2);
			*y = type == TENSOR_F16 ? fp16_to_f32(h) : bf16_to_f32(h);
			break;
		}
#define BLOCK_CASE(T, fn)                            \
	case T: {                                    \
		struct block_##fn b;                 \
		memcpy(&b, p, sizeof b);             \
		dequant_##fn(&b, y);                 \
		break;                               \
	}
		BLOCK_CASE(TENSOR_Q4_0, q4_0)
		BLOCK_CASE(TENSOR_Q4_1, q4_1)
		BLOCK_CASE(TENSOR_Q5_0, q5_0)
		BLOCK_CASE(TENSOR_Q5_1, q5_1)
		BLOCK_CASE(TENSOR_Q8_0, q8_0)
		BLOCK_CASE(TENSOR_Q2_K, q2_K)
		BLOCK_CASE(TENSOR_Q3_K, q3_K)
		BLOCK_CASE(TENSOR_Q4_K, q4_K)
		BLOCK_CASE(TENSOR_Q5_K, q5_K)
		BLOCK_CASE(TENSOR_Q6_K, q6_K)
#undef BLOCK_CASE
		default:
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- reference quantization ------------------------------------------
 * The same algorithms as llama.cpp's non-imatrix quantize_row_*_ref, so a
 * generated file holds the blocks llama-quantize would write for the same
 * floats. Float expressions keep their order; rounding helpers say which
 * rounding they use because it decides ties. */

/* Round to nearest, ties to even (the default FP rounding mode). */
static int round_even(float x)
{
	return (int)rintf(x);
}

static int clamp_int(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* Tiny groups are stored as zeros rather than amplified noise. */
#define GROUP_EPS 1e-15f

/* Elements of a signed block: the one of largest magnitude, sign kept. */
static float signed_absmax(const float *x, int n)
{
	float amax = 0.0f, max = 0.0f;
	for (int i = 0; i < n; i++) {
		if (amax < fabsf(x[i])) {
			amax = fabsf(x[i]);
			max = x[i];
		}
	}
	return max;
}

static void min_max(const float *x, int n, float *mn, float *mx)
{
	*mn = FLT_MAX;
	*mx = -FLT_MAX;
	for (int i = 0; i < n; i++) {
		if (x[i] < *mn)
			*mn = x[i];
		if (x[i] > *mx)
			*mx = x[i];
	}
}

static void quant_q4_0(const float *x, struct block_q4_0 *b)
{
	/* d is negative of max/8 so the extreme element maps to -8 exactly. */
	const float d = signed_absmax(x, 32) / -8;
	const float id = d != 0.0f ? 1.0f / d : 0.0f;
	b->d = f32_to_fp16(d);
	for (int j = 0; j < 16; j++) {
		/* +8.5 then truncation: round half up in the shifted range. */
		int q0 = (int)(x[j] * id + 8.5f);
		int q1 = (int)(x[j + 16] * id + 8.5f);
		q0 = q0 > 15 ? 15 : q0;
		q1 = q1 > 15 ? 15 : q1;
		b->qs[j] = (uint8_t)(q0 | q1 << 4);
	}
}

static void quant_q4_1(const float *x, struct block_q4_1 *b)
{
	float mn, mx;
	min_max(x, 32, &mn, &mx);
	const float d = (mx - mn) / 15;
	const float id = d != 0.0f ? 1.0f / d : 0.0f;
	b->d = f32_to_fp16(d);
	b->m = f32_to_fp16(mn);
	for (int j = 0; j < 16; j++) {
		int q0 = (int)((x[j] - mn) * id + 0.5f);
		int q1 = (int)((x[j + 16] - mn) * id + 0.5f);
		q0 = q0 > 15 ? 15 : q0;
		q1 = q1 > 15 ? 15 : q1;
		b->qs[j] = (uint8_t)(q0 | q1 << 4);
	}
}

static void store_u32_le(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void quant_q5_0(const float *x, struct block_q5_0 *b)
{
	const float d = signed_absmax(x, 32) / -16;
	const float id = d != 0.0f ? 1.0f / d : 0.0f;
	b->d = f32_to_fp16(d);
	uint32_t h = 0;
	for (int j = 0; j < 16; j++) {
		int q0 = (int)(x[j] * id + 16.5f);
		int q1 = (int)(x[j + 16] * id + 16.5f);
		q0 = q0 > 31 ? 31 : q0;
		q1 = q1 > 31 ? 31 : q1;
		b->qs[j] = (uint8_t)((q0 & 15) | (q1 & 15) << 4);
		h |= (uint32_t)(q0 >> 4) << j;
		h |= (uint32_t)(q1 >> 4) << (j + 16);
	}
	store_u32_le(b->qh, h);
}

static void quant_q5_1(const float *x, struct block_q5_1 *b)
{
	float mn, mx;
	min_max(x, 32, &mn, &mx);
	const float d = (mx - mn) / 31;
	const float id = d != 0.0f ? 1.0f / d : 0.0f;
	b->d = f32_to_fp16(d);
	b->m = f32_to_fp16(mn);
	uint32_t h = 0;
	for (int j = 0; j < 16; j++) {
		/* No clamp in the reference: (x - min)·id <= 31 + rounding. */
		int q0 = (int)((x[j] - mn) * id + 0.5f) & 31;
		int q1 = (int)((x[j + 16] - mn) * id + 0.5f) & 31;
		b->qs[j] = (uint8_t)((q0 & 15) | (q1 & 15) << 4);
		h |= (uint32_t)(q0 >> 4) << j;
		h |= (uint32_t)(q1 >> 4) << (j + 16);
	}
	store_u32_le(b->qh, h);
}

static void quant_q8_0(const float *x, struct block_q8_0 *b)
{
	float amax = 0.0f;
	for (int j = 0; j < 32; j++)
		amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
	const float d = amax / 127;
	const float id = d != 0.0f ? 1.0f / d : 0.0f;
	b->d = f32_to_fp16(d);
	for (int j = 0; j < 32; j++)
		b->qs[j] = (int8_t)roundf(x[j] * id); /* ties away from zero */
}

/* Signed levels -nmax..nmax-1 for n values weighted by x², searching 19
 * candidate scales around nmax/max for the least weighted squared error.
 * Returns the scale; L gets level + nmax. (make_qx_quants, rmse_type 1.) */
static float fit_signed_levels(int n, int nmax, const float *x, int8_t *L)
{
	const float max = signed_absmax(x, n);
	if (fabsf(max) < GROUP_EPS) {
		memset(L, 0, (size_t)n);
		return 0.0f;
	}
	float iscale = -nmax / max;
	float sumlx = 0.0f, suml2 = 0.0f;
	for (int i = 0; i < n; i++) {
		int l = clamp_int(round_even(iscale * x[i]), -nmax, nmax - 1);
		L[i] = (int8_t)(l + nmax);
		float w = x[i] * x[i];
		sumlx += w * x[i] * (float)l;
		suml2 += w * (float)l * (float)l;
	}
	float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
	float best = scale * sumlx;
	for (int is = -9; is <= 9; is++) {
		if (is == 0)
			continue;
		iscale = -((float)nmax + 0.1f * (float)is) / max;
		sumlx = suml2 = 0.0f;
		for (int i = 0; i < n; i++) {
			int l = clamp_int(round_even(iscale * x[i]), -nmax, nmax - 1);
			float w = x[i] * x[i];
			sumlx += w * x[i] * (float)l;
			suml2 += w * (float)l * (float)l;
		}
		if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
			for (int i = 0; i < n; i++) {
				int l = clamp_int(round_even(iscale * x[i]), -nmax, nmax - 1);
				L[i] = (int8_t)(l + nmax);
			}
			scale = sumlx / suml2;
			best = scale * sumlx;
		}
	}
	return scale;
}

static void quant_q6_K(const float *x, struct block_q6_K *b)
{
	int8_t L[QK_K];
	float scales[16];
	float max_scale = 0.0f, max_abs = 0.0f;
	for (int ib = 0; ib < 16; ib++) {
		scales[ib] = fit_signed_levels(16, 32, x + 16 * ib, L + 16 * ib);
		if (fabsf(scales[ib]) > max_abs) {
			max_abs = fabsf(scales[ib]);
			max_scale = scales[ib];
		}
	}
	memset(b, 0, sizeof *b);
	if (max_abs < GROUP_EPS)
		return; /* all-zero block; d = +0 */

	const float iscale = -128.0f / max_scale;
	b->d = f32_to_fp16(1 / iscale);
	for (int ib = 0; ib < 16; ib++) {
		int s = round_even(iscale * scales[ib]);
		b->scales[ib] = (int8_t)(s > 127 ? 127 : s);
	}
	/* Re-fit the levels against the stored (rounded) scales. */
	for (int j = 0; j < 16; j++) {
		float d = fp16_to_f32(b->d) * (float)b->scales[j];
		if (d == 0.0f)
			continue;
		for (int i = 0; i < 16; i++) {
			int l = clamp_int(round_even(x[16 * j + i] / d), -32, 31);
			L[16 * j + i] = (int8_t)(l + 32);
		}
	}
	for (int n = 0; n < 2; n++) {
		const int8_t *Ln = L + 128 * n;
		uint8_t *ql = b->ql + 64 * n, *qh = b->qh + 32 * n;
		for (int l = 0; l < 32; l++) {
			ql[l] = (uint8_t)((Ln[l] & 15) | (Ln[l + 64] & 15) << 4);
			ql[l + 32] = (uint8_t)((Ln[l + 32] & 15) | (Ln[l + 96] & 15) << 4);
			qh[l] = (uint8_t)((Ln[l] >> 4) | (Ln[l + 32] >> 4) << 2 |
					  (Ln[l + 64] >> 4) << 4 | (Ln[l + 96] >> 4) << 6);
		}
	}
}

/* Unsigned levels 0..nmax with a min (x ≈ scale·L − min), weighted least
 * squares over nstep+1 candidate scales (make_qkx2_quants, squared error).
 * Returns the scale; *neg_min gets −min (>= 0). */
static float fit_levels_with_min(int n, int nmax, const float *x, const float *w, uint8_t *L,
				 float *neg_min, float rmin, float rdelta, int nstep)
{
	uint8_t Laux[32];
	float mn = x[0], mx = x[0];
	float sum_w = w[0], sum_x = sum_w * x[0];
	for (int i = 1; i < n; i++) {
		if (x[i] < mn)
			mn = x[i];
		if (x[i] > mx)
			mx = x[i];
		sum_w += w[i];
		sum_x += w[i] * x[i];
	}
	if (mn > 0.0f)
		mn = 0.0f;
	if (mx == mn) {
		memset(L, 0, (size_t)n);
		*neg_min = -mn;
		return 0.0f;
	}
	float iscale = (float)nmax / (mx - mn);
	float scale = 1 / iscale;
	float best_err = 0.0f;
	for (int i = 0; i < n; i++) {
		L[i] = (uint8_t)clamp_int(round_even(iscale * (x[i] - mn)), 0, nmax);
		float diff = scale * (float)L[i] + mn - x[i];
		best_err += w[i] * (diff * diff);
	}
	for (int is = 0; is <= nstep; is++) {
		iscale = (rmin + rdelta * (float)is + (float)nmax) / (mx - mn);
		float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
		for (int i = 0; i < n; i++) {
			int l = clamp_int(round_even(iscale * (x[i] - mn)), 0, nmax);
			Laux[i] = (uint8_t)l;
			sum_l += w[i] * (float)l;
			sum_l2 += w[i] * (float)l * (float)l;
			sum_xl += w[i] * (float)l * x[i];
		}
		float D = sum_w * sum_l2 - sum_l * sum_l;
		if (D > 0.0f) {
			float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
			float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
			if (this_min > 0.0f) {
				this_min = 0.0f;
				this_scale = sum_xl / sum_l2;
			}
			float err = 0.0f;
			for (int i = 0; i < n; i++) {
				float diff = this_scale * (float)Laux[i] + this_min - x[i];
				err += w[i] * (diff * diff);
			}
			if (err < best_err) {
				memcpy(L, Laux, (size_t)n);
				best_err = err;
				scale = this_scale;
				mn = this_min;
			}
		}
	}
	*neg_min = -mn;
	return scale;
}

/* Shared by Q4_K (nmax 15) and Q5_K (nmax 31): per sub-block scale/min
 * fits, 6-bit quantized scales and mins, then levels re-fit against the
 * stored values. Writes d, dmin, scales[12] and the levels L[256]. */
static void quant_k_common(const float *x, int nmax, float rmin, int nstep, uint16_t *d_out,
			   uint16_t *dmin_out, uint8_t *packed, uint8_t *L)
{
	float weights[32], mins[8], scales[8];
	float max_scale = 0.0f, max_min = 0.0f;
	for (int j = 0; j < 8; j++) {
		const float *xs = x + 32 * j;
		float sum_x2 = 0.0f;
		for (int l = 0; l < 32; l++)
			sum_x2 += xs[l] * xs[l];
		float av_x = sqrtf(sum_x2 / 32);
		for (int l = 0; l < 32; l++)
			weights[l] = av_x + fabsf(xs[l]);
		scales[j] = fit_levels_with_min(32, nmax, xs, weights, L + 32 * j, &mins[j], rmin,
						0.1f, nstep);
		if (scales[j] > max_scale)
			max_scale = scales[j];
		if (mins[j] > max_min)
			max_min = mins[j];
	}
	const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
	const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
	memset(packed, 0, 12);
	for (int j = 0; j < 8; j++) {
		/* The reference stores the rounded value in a u8 before clamping. */
		uint8_t ls = (uint8_t)round_even(inv_scale * scales[j]);
		uint8_t lm = (uint8_t)round_even(inv_min * mins[j]);
		ls = ls > 63 ? 63 : ls;
		lm = lm > 63 ? 63 : lm;
		if (j < 4) {
			packed[j] = ls;
			packed[j + 4] = lm;
		} else {
			packed[j + 4] = (uint8_t)((ls & 15) | (lm & 15) << 4);
			packed[j - 4] |= (uint8_t)((ls >> 4) << 6);
			packed[j] |= (uint8_t)((lm >> 4) << 6);
		}
	}
	*d_out = f32_to_fp16(max_scale / 63.0f);
	*dmin_out = f32_to_fp16(max_min / 63.0f);
	for (int j = 0; j < 8; j++) {
		uint8_t sc, m;
		k_scale_min(j, packed, &sc, &m);
		const float d = fp16_to_f32(*d_out) * (float)sc;
		if (d == 0.0f)
			continue;
		const float dm = fp16_to_f32(*dmin_out) * (float)m;
		for (int i = 0; i < 32; i++)
			L[32 * j + i] = (uint8_t)clamp_int(round_even((x[32 * j + i] + dm) / d), 0, nmax);
	}
}

static void quant_q4_K(const float *x, struct block_q4_K *b)
{
	uint8_t L[QK_K];
	quant_k_common(x, 15, -1.0f, 20, &b->d, &b->dmin, b->scales, L);
	for (int c = 0; c < 4; c++)
		for (int l = 0; l < 32; l++)
			b->qs[32 * c + l] = (uint8_t)(L[64 * c + l] | L[64 * c + 32 + l] << 4);
}

static void quant_q5_K(const float *x, struct block_q5_K *b)
{
	uint8_t L[QK_K];
	quant_k_common(x, 31, -0.5f, 15, &b->d, &b->dmin, b->scales, L);
	memset(b->qh, 0, sizeof b->qh);
	for (int c = 0; c < 4; c++) {
		for (int l = 0; l < 32; l++) {
			int lo = L[64 * c + l], hi = L[64 * c + 32 + l];
			b->qh[l] |= (uint8_t)((lo >> 4) << (2 * c) | (hi >> 4) << (2 * c + 1));
			b->qs[32 * c + l] = (uint8_t)((lo & 15) | (hi & 15) << 4);
		}
	}
}

int quantize_row(uint32_t type, const float *src, void *dst, uint64_t n)
{
	const struct tensor_type_info *info = tensor_type_info(type);
	if (!info)
		return -EINVAL;
	if (n % info->block_elems != 0)
		return -EINVAL;
	uint8_t *p = dst;
	const uint32_t be = info->block_elems;
	switch (type) {
	case TENSOR_F32:
		memcpy(dst, src, n * sizeof(float));
		return 0;
	case TENSOR_F16:
	case TENSOR_BF16:
		for (uint64_t i = 0; i < n; i++) {
			uint16_t h = type == TENSOR_F16 ? f32_to_fp16(src[i]) : f32_to_bf16(src[i]);
			memcpy(p + 2 * i, &h, 2);
		}
		return 0;
	case TENSOR_Q4_0:
	case TENSOR_Q4_1:
	case TENSOR_Q5_0:
	case TENSOR_Q5_1:
	case TENSOR_Q8_0:
	case TENSOR_Q4_K:
	case TENSOR_Q5_K:
	case TENSOR_Q6_K:
		break;
	default:
		return -ENOTSUP;
	}
	for (uint64_t i = 0; i < n / be; i++, p += info->block_bytes) {
		const float *x = src + i * be;
		switch (type) {
#define QUANT_CASE(T, fn)                            \
	case T: {                                    \
		struct block_##fn b;                 \
		quant_##fn(x, &b);                   \
		memcpy(p, &b, sizeof b);             \
		break;                               \
	}
		QUANT_CASE(TENSOR_Q4_0, q4_0)
		QUANT_CASE(TENSOR_Q4_1, q4_1)
		QUANT_CASE(TENSOR_Q5_0, q5_0)
		QUANT_CASE(TENSOR_Q5_1, q5_1)
		QUANT_CASE(TENSOR_Q8_0, q8_0)
		QUANT_CASE(TENSOR_Q4_K, q4_K)
		QUANT_CASE(TENSOR_Q5_K, q5_K)
		QUANT_CASE(TENSOR_Q6_K, q6_K)
#undef QUANT_CASE
		default:
			break;
		}
	}
	return 0;
}
