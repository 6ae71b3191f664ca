/* tests/test-quant.c — tensor types: the type table, half conversions,
 * dequantization of hand-built blocks (expected values from the spec §2
 * formulas, written here as "which bits hold element e") and quantize →
 * dequantize round trips. */
#include "model/quant.h"
#include "tests/check.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
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

/* ---- quantize → dequantize ------------------------------------------ */

/* splitmix64 and Box-Muller: reproducible data without libc rand(). */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static float rng_normal(uint64_t *s)
{
	double u1 = ((double)(rng_next(s) >> 11) + 0.5) / 9007199254740992.0;
	double u2 = (double)(rng_next(s) >> 11) / 9007199254740992.0;
	return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

#define RT_N 4096 /* 16 super-blocks, 128 small blocks */

static float absmax(const float *x, int n)
{
	float m = 0.0f;
	for (int i = 0; i < n; i++)
		m = fabsf(x[i]) > m ? fabsf(x[i]) : m;
	return m;
}

static float range_of(const float *x, int n)
{
	float lo = x[0], hi = x[0];
	for (int i = 1; i < n; i++) {
		lo = x[i] < lo ? x[i] : lo;
		hi = x[i] > hi ? x[i] : hi;
	}
	return hi - lo;
}

/* Largest error allowed for element i of x after a round trip through
 * type t. Each bound is the quantizer's step analysis plus the f16 rounding
 * of the stored scales (relative 2^-11, times the largest level). */
static float error_bound(uint32_t t, const float *x, int i)
{
	const float h = 1.0f / 2048; /* f16 relative rounding */
	const float *b32 = x + i / 32 * 32, *b16 = x + i / 16 * 16, *b256 = x + i / 256 * 256;
	switch (t) {
	case TENSOR_F16: /* one f16 rounding; half the subnormal step below 2^-14 */
		return fabsf(x[i]) * h + 2.98023224e-08f;
	case TENSOR_BF16: /* one bf16 rounding: 8 significant bits */
		return fabsf(x[i]) / 256;
	case TENSOR_Q8_0: { /* d = amax/127: half a step, plus 127 levels × f16(d) error */
		float d = absmax(b32, 32) / 127;
		return d / 2 + 127 * d * h;
	}
	case TENSOR_Q4_0: /* d = amax/8; the far side clamps at +7: one whole step */
	case TENSOR_Q5_0: { /* d = amax/16, clamps at +15: one whole step */
		float d = absmax(b32, 32) / (t == TENSOR_Q4_0 ? 8 : 16);
		return d + (t == TENSOR_Q4_0 ? 8 : 16) * d * h;
	}
	case TENSOR_Q4_1: /* d = range/15, half a step; f16(d)·15 and f16(min) */
	case TENSOR_Q5_1: { /* d = range/31 */
		float r = range_of(b32, 32), lo = b32[0];
		for (int j = 0; j < 32; j++)
			lo = b32[j] < lo ? b32[j] : lo;
		float d = r / (t == TENSOR_Q4_1 ? 15 : 31);
		return d / 2 + r * h + fabsf(lo) * h;
	}
	case TENSOR_Q6_K:
		/* 16 levels each side of a 16-element sub-block: one step is about
		 * amax_sub/32, up to two with the clamped search; the 8-bit sub-scale
		 * (step max_scale/128 = amax_super/4096 per level) is off by half a
		 * step, times 32 levels = amax_super/256. */
		return absmax(b16, 16) / 16 + absmax(b256, 256) / 256;
	case TENSOR_Q4_K:
	case TENSOR_Q5_K: {
		/* One level of the 32-element sub-block (range/nmax, the search
		 * may shrink the scale by up to 1 level of nmax, so two steps to be
		 * safe), plus 6-bit scale and min rounding: half a step of 63 on the
		 * super-block's largest scale (× nmax levels) and largest min. */
		int nmax = t == TENSOR_Q4_K ? 15 : 31;
		float r = range_of(b32, 32);
		return 2 * r / nmax + range_of(b256, 256) / 126 + absmax(b256, 256) / 126;
	}
	default:
		return 0.0f;
	}
}

static const uint32_t rt_types[] = { TENSOR_F16, TENSOR_BF16, TENSOR_Q8_0, TENSOR_Q4_0,
				     TENSOR_Q4_1, TENSOR_Q5_0, TENSOR_Q5_1, TENSOR_Q6_K,
				     TENSOR_Q4_K, TENSOR_Q5_K };

/* NMSE ceilings on N(0,1) data. Uniform rounding error has variance
 * step²/12; with a block's |max| near 2.5σ (32 normals) Q4_0's step is
 * ~0.31σ → 0.008; the others scale with their step. Ceilings leave ~50%
 * headroom over that estimate, far below what a wrong bit layout gives (≥0.1). */
static double nmse_ceiling(uint32_t t)
{
	switch (t) {
	case TENSOR_F16: return 1e-7;
	case TENSOR_BF16: return 2e-5;
	case TENSOR_Q8_0: return 6e-5;
	case TENSOR_Q4_0: return 0.012;
	case TENSOR_Q4_1: return 0.010;
	case TENSOR_Q5_0: return 0.003;
	case TENSOR_Q5_1: return 0.0025;
	case TENSOR_Q6_K: return 6e-4;
	case TENSOR_Q4_K: return 0.008;
	case TENSOR_Q5_K: return 0.002;
	default: return 0.0;
	}
}

static void round_trip(uint32_t t, const float *x, const char *what, bool check_nmse)
{
	static uint8_t q[RT_N * 4];
	static float y[RT_N];
	uint64_t bytes = 0;
	CHECK(tensor_row_bytes(t, RT_N, &bytes) == 0 && bytes <= sizeof q);
	memset(q, 0xa5, sizeof q);
	CHECKF(quantize_row(t, x, q, RT_N) == 0, "%s", tensor_type_info(t)->name);
	CHECK(dequantize_row(t, q, y, RT_N) == 0);
	int over = 0, first = -1;
	double err2 = 0.0, sig2 = 0.0, worst = 0.0;
	for (int i = 0; i < RT_N; i++) {
		float e = fabsf(y[i] - x[i]);
		float bound = error_bound(t, x, i);
		if (bound > 0.0f && e / bound > worst)
			worst = e / bound;
		if (!(e <= bound * 1.0001f + 1e-30f)) {
			if (first < 0)
				first = i;
			over++;
		}
		err2 += (double)e * e;
		sig2 += (double)x[i] * x[i];
	}
	CHECKF(over == 0, "%s on %s: %d elements over the bound, first %d (x %g y %g bound %g)",
	       tensor_type_info(t)->name, what, over, first, first >= 0 ? x[first] : 0.0,
	       first >= 0 ? y[first] : 0.0, first >= 0 ? error_bound(t, x, first) : 0.0);
	if (getenv("TEST_QUANT_VERBOSE"))
		fprintf(stderr, "%-5s %-12s worst error / bound %.3f\n", tensor_type_info(t)->name,
			what, worst);
	if (check_nmse) {
		double nmse = err2 / sig2;
		CHECKF(nmse < nmse_ceiling(t), "%s nmse %g", tensor_type_info(t)->name, nmse);
		if (getenv("TEST_QUANT_VERBOSE"))
			fprintf(stderr, "%-5s nmse %.3g\n", tensor_type_info(t)->name, nmse);
	}
}

static void test_round_trips(void)
{
	static float gauss[RT_N], mixed[RT_N], positive[RT_N];
	uint64_t s = 42;
	for (int i = 0; i < RT_N; i++) {
		gauss[i] = rng_normal(&s);
		/* scales varying by block and an outlier per 100: exercises the
		 * sub-scale rounding of the K-quants */
		mixed[i] = rng_normal(&s) * (float)(1 + (i / 32) % 7) * 0.01f;
		if (i % 100 == 7)
			mixed[i] *= 20.0f;
		positive[i] = fabsf(rng_normal(&s)) + 3.0f; /* all > 0: min side of Q4_1/K */
	}
	for (size_t k = 0; k < sizeof rt_types / sizeof rt_types[0]; k++) {
		round_trip(rt_types[k], gauss, "gaussian", true);
		round_trip(rt_types[k], mixed, "mixed scales", false);
		round_trip(rt_types[k], positive, "positive", false);
	}
	float y[RT_N];
	CHECK(quantize_row(TENSOR_F32, gauss, y, RT_N) == 0 && memcmp(y, gauss, sizeof y) == 0);
	CHECK(quantize_row(TENSOR_Q2_K, gauss, y, 256) == -ENOTSUP);
	CHECK(quantize_row(TENSOR_Q3_K, gauss, y, 256) == -ENOTSUP);
	CHECK(quantize_row(TENSOR_Q4_0, gauss, y, 31) == -EINVAL);
	CHECK(quantize_row(5, gauss, y, 32) == -EINVAL);
}

static void test_quant_zeros_and_extremes(void)
{
	float zero[256] = { 0 }, y[256];
	/* Every block type of all zeros decodes to exact zeros. */
	for (size_t k = 0; k < sizeof rt_types / sizeof rt_types[0]; k++) {
		uint8_t q[256 * 4];
		memset(q, 0xff, sizeof q);
		CHECK(quantize_row(rt_types[k], zero, q, 256) == 0);
		CHECK(dequantize_row(rt_types[k], q, y, 256) == 0);
		int nonzero = 0;
		for (int i = 0; i < 256; i++)
			nonzero += y[i] != 0.0f;
		CHECKF(nonzero == 0, "%s", tensor_type_info(rt_types[k])->name);
	}
	struct block_q8_0 b8;
	struct block_q4_0 b4;
	CHECK(quantize_row(TENSOR_Q8_0, zero, &b8, 32) == 0 && b8.d == 0);
	/* Q4_0's d = 0 / −8 is −0, as in the reference. */
	CHECK(quantize_row(TENSOR_Q4_0, zero, &b4, 32) == 0 && b4.d == 0x8000);
	/* Q4_0 of zeros: every nibble is level 8 (x·0 + 8.5 truncated). */
	CHECK(b4.qs[0] == 0x88 && b4.qs[15] == 0x88);

	/* Largest scales a half holds: d = 65504 exactly, so the extremes come
	 * back exactly (Q8_0: ±127·d; Q4_0: the signed max is level 0 = −8·d). */
	float x[32];
	for (int j = 0; j < 32; j++)
		x[j] = (j % 2 ? 127.0f : -127.0f) * 65504.0f;
	CHECK(quantize_row(TENSOR_Q8_0, x, &b8, 32) == 0);
	CHECK(b8.d == 0x7bff && b8.qs[0] == -127 && b8.qs[1] == 127);
	CHECK(dequantize_row(TENSOR_Q8_0, &b8, y, 32) == 0 && y[0] == x[0] && y[1] == x[1]);
	for (int j = 0; j < 32; j++)
		x[j] = j == 5 ? -8.0f * 65504.0f : (float)j * 1000.0f;
	CHECK(quantize_row(TENSOR_Q4_0, x, &b4, 32) == 0);
	CHECK(b4.d == 0x7bff); /* d = max / -8 = +65504 */
	CHECK(dequantize_row(TENSOR_Q4_0, &b4, y, 32) == 0 && y[5] == x[5]);
	CHECK((b4.qs[5] & 15) == 0);
	/* One tiny value among zeros: Q8_0 still represents it (level ±127). */
	memset(x, 0, sizeof x);
	x[9] = -1e-3f;
	CHECK(quantize_row(TENSOR_Q8_0, x, &b8, 32) == 0 && b8.qs[9] == -127);
	CHECK(dequantize_row(TENSOR_Q8_0, &b8, y, 32) == 0 && fabsf(y[9] - x[9]) < 1e-3f * 1e-3f);
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
	test_round_trips();
	test_quant_zeros_and_extremes();
	return check_report();
}
