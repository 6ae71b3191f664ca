/* tests/test-quant.c — tensor types: the type table, half conversions,
 * dequantization of hand-built blocks (expected values from the spec §2
 * formulas, written here as "which bits hold element e") and quantize →
 * dequantize round trips. */
#include "model/quant.h"
#include "tests/check.h"

#include <errno.h>
#include <math.h>
#include <string.h>

static void test_type_table(void)
{
	CHECK(tensor_type_info(TENSOR_Q4_0)->block_bytes == 18);
	CHECK(tensor_type_info(TENSOR_Q6_K)->block_elems == 256);
	CHECK(tensor_type_info(4) == NULL); /* retired id */
	CHECK(tensor_type_info(9) == NULL); /* Q8_1 is runtime-only */
	CHECK(tensor_type_info(1000) == NULL);
	uint64_t bytes = 0;
	CHECK(tensor_row_bytes(TENSOR_Q4_0, 64, &bytes) == 0 && bytes == 36);
	CHECK(tensor_row_bytes(TENSOR_Q4_0, 48, &bytes) < 0);
	CHECK(tensor_row_bytes(TENSOR_F16, 3, &bytes) == 0 && bytes == 6);
}

static void test_fp16_round_trip(void)
{
	/* Every finite half converts to f32 and back unchanged. */
	int mismatches = 0;
	for (uint32_t h = 0; h < 0x10000; h++) {
		if (((h >> 10) & 0x1f) == 0x1f)
			continue;
		if (f32_to_fp16(fp16_to_f32((uint16_t)h)) != h)
			mismatches++;
	}
	CHECK(mismatches == 0);
	CHECK(fp16_to_f32(0x3c00) == 1.0f);
	CHECK(fp16_to_f32(0xc000) == -2.0f);
	CHECK(fp16_to_f32(0x0001) == 5.9604644775390625e-08f);
	CHECK(isinf(fp16_to_f32(0x7c00)));
	CHECK(isnan(fp16_to_f32(0x7e00)));
	CHECK(f32_to_fp16(65520.0f) == 0x7c00);     /* overflows to inf */
	CHECK(f32_to_fp16(65504.0f) == 0x7bff);     /* largest half */
	CHECK(f32_to_fp16(1.0f + 1.0f / 2048) == 0x3c00); /* tie to even, down */
	CHECK(f32_to_fp16(1.0f + 3.0f / 2048) == 0x3c02); /* tie to even, up */
	CHECK(f32_to_fp16(2.98023223876953125e-08f) == 0x0000); /* 2^-25 tie: to even 0 */
	CHECK(f32_to_fp16(-0.0f) == 0x8000);
	CHECK((f32_to_fp16(NAN) & 0x7c00) == 0x7c00 && (f32_to_fp16(NAN) & 0x3ff) != 0);
}

static void test_bf16(void)
{
	CHECK(bf16_to_f32(0x3f80) == 1.0f);
	CHECK(f32_to_bf16(1.0f) == 0x3f80);
	CHECK(f32_to_bf16(1.00390625f) == 0x3f80); /* tie to even */
	CHECK(isnan(bf16_to_f32(f32_to_bf16(NAN))));
}

/* Hand-built blocks. d and the mins are powers of two or small dyadic
 * numbers, so every expected value is exact whatever the evaluation order. */

static void test_dequant_q4_0(void)
{
	struct block_q4_0 b = { .d = 0x3800 }; /* 0.5 */
	for (int j = 0; j < 16; j++)
		b.qs[j] = (uint8_t)(j | (15 - j) << 4);
	float y[32];
	CHECK(dequantize_row(TENSOR_Q4_0, &b, y, 32) == 0);
	int bad = 0;
	for (int j = 0; j < 16; j++) {
		bad += y[j] != (float)(j - 8) * 0.5f;      /* low nibble: element j */
		bad += y[j + 16] != (float)(7 - j) * 0.5f; /* high nibble: element j+16 */
	}
	CHECK(bad == 0);
	CHECK(y[0] == -4.0f && y[15] == 3.5f && y[16] == 3.5f && y[31] == -4.0f);
}

static void test_dequant_q4_1(void)
{
	struct block_q4_1 b = { .d = 0x3400, .m = 0xbc00 }; /* 0.25, -1 */
	for (int j = 0; j < 16; j++)
		b.qs[j] = (uint8_t)(j | (15 - j) << 4);
	float y[32];
	CHECK(dequantize_row(TENSOR_Q4_1, &b, y, 32) == 0);
	int bad = 0;
	for (int j = 0; j < 16; j++) {
		bad += y[j] != (float)j * 0.25f - 1.0f;
		bad += y[j + 16] != (float)(15 - j) * 0.25f - 1.0f;
	}
	CHECK(bad == 0);
}

/* Q5_0 / Q5_1: element e has low 4 bits in qs[e % 16] (low nibble for
 * e < 16), bit 4 in bit e of the u32 little-endian qh. */
static void q5_pack(const int *q, uint8_t *qs, uint8_t *qh)
{
	uint32_t h = 0;
	for (int e = 0; e < 32; e++) {
		if (e < 16)
			qs[e] = (uint8_t)(q[e] & 15);
		else
			qs[e - 16] |= (uint8_t)((q[e] & 15) << 4);
		h |= (uint32_t)((q[e] >> 4) & 1) << e;
	}
	for (int i = 0; i < 4; i++)
		qh[i] = (uint8_t)(h >> (8 * i));
}

static void test_dequant_q5(void)
{
	int q[32];
	for (int e = 0; e < 32; e++)
		q[e] = (e * 13 + 5) % 32;
	struct block_q5_0 b0 = { .d = 0x3c00 }; /* 1 */
	q5_pack(q, b0.qs, b0.qh);
	struct block_q5_1 b1 = { .d = 0x3800, .m = 0x4000 }; /* 0.5, 2 */
	q5_pack(q, b1.qs, b1.qh);
	float y0[32], y1[32];
	CHECK(dequantize_row(TENSOR_Q5_0, &b0, y0, 32) == 0);
	CHECK(dequantize_row(TENSOR_Q5_1, &b1, y1, 32) == 0);
	int bad = 0;
	for (int e = 0; e < 32; e++) {
		bad += y0[e] != (float)(q[e] - 16);
		bad += y1[e] != (float)q[e] * 0.5f + 2.0f;
	}
	CHECK(bad == 0);
}

static void test_dequant_q8_0(void)
{
	struct block_q8_0 b = { .d = 0x3000 }; /* 0.125 */
	for (int j = 0; j < 32; j++)
		b.qs[j] = (int8_t)(j * 8 - 128);
	float y[32];
	CHECK(dequantize_row(TENSOR_Q8_0, &b, y, 32) == 0);
	int bad = 0;
	for (int j = 0; j < 32; j++)
		bad += y[j] != (float)(j * 8 - 128) * 0.125f;
	CHECK(bad == 0);
	CHECK(y[0] == -16.0f);
}

/* Q4_K / Q5_K 6-bit scales and mins of sub-blocks 0..7 packed into 12 bytes
 * (the inverse of the spec's unpack rule). */
static void k_pack_scales(const int *sc, const int *m, uint8_t *q)
{
	memset(q, 0, 12);
	for (int s = 0; s < 4; s++) {
		q[s] = (uint8_t)(sc[s] & 63);
		q[s + 4] = (uint8_t)(m[s] & 63);
	}
	for (int s = 4; s < 8; s++) {
		q[s + 4] = (uint8_t)((sc[s] & 15) | (m[s] & 15) << 4);
		q[s - 4] |= (uint8_t)((sc[s] >> 4) << 6);
		q[s] |= (uint8_t)((m[s] >> 4) << 6);
	}
}

static void test_dequant_q4_5_K(void)
{
	static const int sc[8] = { 1, 63, 17, 40, 33, 2, 63, 48 };
	static const int mn[8] = { 0, 5, 63, 31, 16, 47, 1, 60 };
	int q[256];
	for (int e = 0; e < 256; e++)
		q[e] = (e * 7 + e / 32) % 32; /* 5-bit values; Q4_K uses the low 4 */
	struct block_q4_K b4 = { .d = 0x2c00, .dmin = 0x3000 }; /* 1/16, 1/8 */
	struct block_q5_K b5 = { .d = 0x2c00, .dmin = 0x3000 };
	k_pack_scales(sc, mn, b4.scales);
	k_pack_scales(sc, mn, b5.scales);
	/* element e: chunk c = e/64, high nibble when e%64 >= 32, byte 32c + e%32;
	 * Q5_K bit 4 in qh[e%32] bit 2c (+1 for the high nibble). */
	for (int e = 0; e < 256; e++) {
		int c = e / 64, hi = (e % 64) >= 32, l = e % 32;
		b4.qs[32 * c + l] |= (uint8_t)((q[e] & 15) << (4 * hi));
		b5.qs[32 * c + l] |= (uint8_t)((q[e] & 15) << (4 * hi));
		b5.qh[l] |= (uint8_t)(((q[e] >> 4) & 1) << (2 * c + hi));
	}
	float y4[256], y5[256];
	CHECK(dequantize_row(TENSOR_Q4_K, &b4, y4, 256) == 0);
	CHECK(dequantize_row(TENSOR_Q5_K, &b5, y5, 256) == 0);
	int bad4 = 0, bad5 = 0;
	for (int e = 0; e < 256; e++) {
		int s = e / 32;
		bad4 += y4[e] != 0.0625f * (float)sc[s] * (float)(q[e] & 15) - 0.125f * (float)mn[s];
		bad5 += y5[e] != 0.0625f * (float)sc[s] * (float)q[e] - 0.125f * (float)mn[s];
	}
	CHECK(bad4 == 0);
	CHECK(bad5 == 0);
}

static void test_dequant_q6_K(void)
{
	static const int8_t sc[16] = { 1, -1, 127, -128, 5, 17, -33, 64,
				       2, 3, -4, 100, -100, 7, 0, 9 };
	struct block_q6_K b = { .d = 0x2000 }; /* 2^-7 */
	memcpy(b.scales, sc, sizeof sc);
	int q[256];
	/* element e: half n = e/128, group g = (e%128)/32, l = e%32; low 4 bits
	 * in ql[64n + l + 32(g&1)] (high nibble for g >= 2), top 2 bits in
	 * qh[32n + l] at bit 2g; scale sc[8n + l/16 + 2g]. */
	for (int e = 0; e < 256; e++) {
		q[e] = (e * 37 + 11) % 64;
		int n = e / 128, g = (e % 128) / 32, l = e % 32;
		b.ql[64 * n + l + 32 * (g & 1)] |= (uint8_t)((q[e] & 15) << (g >= 2 ? 4 : 0));
		b.qh[32 * n + l] |= (uint8_t)((q[e] >> 4) << (2 * g));
	}
	float y[256];
	CHECK(dequantize_row(TENSOR_Q6_K, &b, y, 256) == 0);
	int bad = 0;
	for (int e = 0; e < 256; e++) {
		int n = e / 128, g = (e % 128) / 32, l = e % 32;
		float want = 0.0078125f * (float)sc[8 * n + l / 16 + 2 * g] * (float)(q[e] - 32);
		bad += y[e] != want;
	}
	CHECK(bad == 0);
}

/* Q2_K / Q3_K: element e: half = e/128, shift group g = (e%128)/32, l = e%32;
 * 2 low bits at bit 2g of qs[32 half + l]; scale index 8 half + 2g + l/16. */
static void test_dequant_q2_K(void)
{
	struct block_q2_K b = { .d = 0x3400, .dmin = 0x3800 }; /* 0.25, 0.5 */
	for (int i = 0; i < 16; i++)
		b.scales[i] = (uint8_t)((i * 5) % 16 | ((i * 3 + 1) % 16) << 4);
	int q[256];
	for (int e = 0; e < 256; e++) {
		q[e] = (e * 5 + e / 64) % 4;
		b.qs[32 * (e / 128) + e % 32] |= (uint8_t)(q[e] << (2 * ((e % 128) / 32)));
	}
	float y[256];
	CHECK(dequantize_row(TENSOR_Q2_K, &b, y, 256) == 0);
	int bad = 0;
	for (int e = 0; e < 256; e++) {
		int is = 8 * (e / 128) + 2 * ((e % 128) / 32) + (e % 32) / 16;
		float want = 0.25f * (float)(b.scales[is] & 15) * (float)q[e] -
			     0.5f * (float)(b.scales[is] >> 4);
		bad += y[e] != want;
	}
	CHECK(bad == 0);
}

static void test_dequant_q3_K(void)
{
	struct block_q3_K b = { .d = 0x3000 }; /* 0.125 */
	int sc[16];
	/* 6-bit scale i: low nibble in byte i%8 (high nibble for i >= 8), top 2
	 * bits in byte 8 + i%4 at bit 2(i/4); value used is sc - 32. */
	for (int i = 0; i < 16; i++) {
		sc[i] = (i * 23 + 3) % 64;
		b.scales[i % 8] |= (uint8_t)((sc[i] & 15) << (i >= 8 ? 4 : 0));
		b.scales[8 + i % 4] |= (uint8_t)((sc[i] >> 4) << (2 * (i / 4)));
	}
	int q[256]; /* -4..3: 2 low bits, hmask bit set = no -4 */
	for (int e = 0; e < 256; e++) {
		q[e] = (e * 3 + e / 16) % 8 - 4;
		int half = e / 128, g = (e % 128) / 32, l = e % 32;
		int u = q[e] + 4; /* 0..7: bit 2 is the hmask bit */
		b.qs[32 * half + l] |= (uint8_t)((u & 3) << (2 * g));
		b.hmask[l] |= (uint8_t)(((u >> 2) & 1) << (4 * half + g));
	}
	float y[256];
	CHECK(dequantize_row(TENSOR_Q3_K, &b, y, 256) == 0);
	int bad = 0;
	for (int e = 0; e < 256; e++) {
		int is = 8 * (e / 128) + 2 * ((e % 128) / 32) + (e % 32) / 16;
		bad += y[e] != 0.125f * (float)(sc[is] - 32) * (float)q[e];
	}
	CHECK(bad == 0);
}

static void test_dequant_plain(void)
{
	uint16_t h[3] = { 0x3c00, 0xc000, 0x0001 };
	uint16_t bf[2] = { 0x3f80, 0xc040 };
	float f[2] = { 1.5f, -0.0f }, y[3];
	CHECK(dequantize_row(TENSOR_F16, h, y, 3) == 0);
	CHECK(y[0] == 1.0f && y[1] == -2.0f && y[2] == 5.9604644775390625e-08f);
	CHECK(dequantize_row(TENSOR_BF16, bf, y, 2) == 0);
	CHECK(y[0] == 1.0f && y[1] == -3.0f);
	CHECK(dequantize_row(TENSOR_F32, f, y, 2) == 0);
	CHECK(y[0] == 1.5f && signbit(y[1]));
	CHECK(dequantize_row(TENSOR_Q4_0, h, y, 16) == -EINVAL); /* not a whole block */
	CHECK(dequantize_row(4, h, y, 32) == -EINVAL);
}

static void test_dequant_two_blocks(void)
{
	/* Blocks of a row are consecutive: the second Q8_0 block lands at 32. */
	struct block_q8_0 b[2] = { { .d = 0x3c00 }, { .d = 0x4000 } };
	b[0].qs[31] = 3;
	b[1].qs[0] = -5;
	float y[64];
	CHECK(dequantize_row(TENSOR_Q8_0, b, y, 64) == 0);
	CHECK(y[31] == 3.0f && y[32] == -10.0f && y[33] == 0.0f);
}

int main(void)
{
	test_type_table();
	test_fp16_round_trip();
	test_bf16();
	test_dequant_plain();
	test_dequant_q4_0();
	test_dequant_q4_1();
	test_dequant_q5();
	test_dequant_q8_0();
	test_dequant_q4_5_K();
	test_dequant_q6_K();
	test_dequant_q2_K();
	test_dequant_q3_K();
	test_dequant_two_blocks();
	return check_report();
}
