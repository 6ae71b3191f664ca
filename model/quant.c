/* model/quant.c — type table, half-precision conversions, row
 * dequantization and reference quantization (spec §2). */
#include "model/quant.h"

#include <errno.h>
#include <string.h>

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
