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
