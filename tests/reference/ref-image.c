/* tests/reference/ref-image.c — contract test image and Pillow-exact bilinear
 * resize (spec §4.5). */
#include "tests/reference/ref-image.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void ref_image_generate(uint8_t *rgb, uint32_t w, uint32_t h, uint32_t seed)
{
	for (uint64_t y = 0; y < h; y++)
		for (uint64_t x = 0; x < w; x++)
			for (uint64_t c = 0; c < 3; c++) {
				/* 64-bit so large images cannot overflow; the
				 * formula is defined on mathematical integers. */
				uint64_t v = x * (c + 1) * 7 + y * (3 - c) * 5 + ((x / 8) ^ (y / 8)) * 23 +
					     (uint64_t)seed * 41 + (x * y) / 64;
				rgb[(y * w + x) * 3 + c] = (uint8_t)(v % 256);
			}
}

#define PRECISION_BITS 22

/* Per output index: first input index, count, and fixed-point weights
 * (k[o·ksize + j]), as Pillow's precompute_coeffs + normalize_coeffs_8bpc. */
struct coeffs {
	uint32_t ksize;  /* max taps per output */
	uint32_t *lo;    /* [n_out] first input index */
	uint32_t *cnt;   /* [n_out] taps used */
	int32_t *k;      /* [n_out][ksize] fixed-point weights */
};

static void coeffs_free(struct coeffs *c)
{
	free(c->lo);
	free(c->cnt);
	free(c->k);
}

static double tri(double x)
{
	x = fabs(x);
	return x < 1.0 ? 1.0 - x : 0.0;
}

static int coeffs_make(uint32_t n_in, uint32_t n_out, struct coeffs *c)
{
	double scale = (double)n_in / n_out;
	double fs = scale < 1.0 ? 1.0 : scale;
	double support = 1.0 * fs; /* bilinear support 1 */
	c->ksize = (uint32_t)ceil(support) * 2 + 1;
	c->lo = calloc(n_out, sizeof *c->lo);
	c->cnt = calloc(n_out, sizeof *c->cnt);
	c->k = calloc((size_t)n_out * c->ksize, sizeof *c->k);
	double *w = calloc(c->ksize, sizeof *w);
	if (!c->lo || !c->cnt || !c->k || !w) {
		free(w);
		coeffs_free(c);
		return -ENOMEM;
	}
	for (uint32_t o = 0; o < n_out; o++) {
		double center = (o + 0.5) * scale;
		/* (int) truncates toward zero, as Pillow's C cast does. */
		long lo = (long)(center - support + 0.5);
		long hi = (long)(center + support + 0.5);
		if (lo < 0)
			lo = 0;
		if (hi > (long)n_in)
			hi = n_in;
		long cnt = hi - lo;
		if (cnt > (long)c->ksize)
			cnt = c->ksize; /* cannot happen; keeps the index in range */
		double sum = 0.0;
		for (long j = 0; j < cnt; j++) {
			w[j] = tri((j + lo - center + 0.5) / fs);
			sum += w[j];
		}
		for (long j = 0; j < cnt; j++) {
			double v = sum != 0.0 ? w[j] / sum : w[j];
			double f = v * (1 << PRECISION_BITS);
			c->k[(size_t)o * c->ksize + j] = (int32_t)(v < 0 ? -0.5 + f : 0.5 + f);
		}
		c->lo[o] = (uint32_t)lo;
		c->cnt[o] = (uint32_t)(cnt < 0 ? 0 : cnt);
	}
	free(w);
	return 0;
}

static uint8_t clip8(int64_t acc)
{
	int64_t v = acc >> PRECISION_BITS; /* floor, as Pillow's arithmetic shift */
	return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* One axis: dst[y][x][c] from src, resampling along x (horizontal) or y. */
static void pass(const uint8_t *src, uint32_t sw, uint8_t *dst, uint32_t dw, uint32_t dh,
		 const struct coeffs *c, int horizontal)
{
	for (uint32_t y = 0; y < dh; y++)
		for (uint32_t x = 0; x < dw; x++) {
			uint32_t o = horizontal ? x : y;
			const int32_t *k = &c->k[(size_t)o * c->ksize];
			for (uint32_t ch = 0; ch < 3; ch++) {
				int64_t acc = 1 << (PRECISION_BITS - 1);
				for (uint32_t j = 0; j < c->cnt[o]; j++) {
					size_t sx = horizontal ? c->lo[o] + j : x;
					size_t sy = horizontal ? y : c->lo[o] + j;
					acc += (int64_t)k[j] * src[(sy * sw + sx) * 3 + ch];
				}
				dst[((size_t)y * dw + x) * 3 + ch] = clip8(acc);
			}
		}
}

int ref_image_resize_pil_bilinear(const uint8_t *src, uint32_t sw, uint32_t sh,
				  uint8_t *dst, uint32_t dw, uint32_t dh)
{
	const uint32_t max_side = 1u << 15;
	if (!sw || !sh || !dw || !dh || sw > max_side || sh > max_side || dw > max_side || dh > max_side)
		return -EINVAL;
	if (sw == dw && sh == dh) {
		memcpy(dst, src, (size_t)sw * sh * 3);
		return 0;
	}
	struct coeffs cx = { 0 }, cy = { 0 };
	uint8_t *mid = NULL;
	int ret = 0;
	const uint8_t *cur = src;
	if (sw != dw) {
		ret = coeffs_make(sw, dw, &cx);
		if (ret < 0)
			goto out;
		if (sh == dh) {
			pass(src, sw, dst, dw, sh, &cx, 1);
			goto out;
		}
		mid = malloc((size_t)dw * sh * 3);
		if (!mid) {
			ret = -ENOMEM;
			goto out;
		}
		pass(src, sw, mid, dw, sh, &cx, 1);
		cur = mid;
	}
	ret = coeffs_make(sh, dh, &cy);
	if (ret < 0)
		goto out;
	pass(cur, dw, dst, dw, dh, &cy, 0);
out:
	free(mid);
	coeffs_free(&cx);
	coeffs_free(&cy);
	return ret;
}
