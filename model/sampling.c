/* model/sampling.c — temperature, top-k, min-p and a seeded multinomial draw
 * in passes over the vocabulary with no allocation: the maximum and a
 * min-heap of the k largest logits give the thresholds, then the kept
 * weights are summed, then the draw walks them in id order. */
#include "model/sampling.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#define SAMPLER_MAX_TOP_K 65536

struct sampler {
	struct sampler_params p;
	uint64_t rng;
	float *heap; /* [p.top_k] min-heap of the largest scaled logits */
};

int sampler_create(const struct sampler_params *p, uint64_t seed, struct sampler **out)
{
	*out = NULL;
	if (!(p->min_p >= 0 && p->min_p <= 1) || !(p->repetition_penalty > 0) ||
	    isnan(p->temperature) || isinf(p->temperature) || p->top_k > SAMPLER_MAX_TOP_K)
		return -EINVAL;
	struct sampler *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->p = *p;
	s->rng = seed;
	if (p->top_k && !(s->heap = malloc(sizeof(float) * p->top_k))) {
		free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

void sampler_destroy(struct sampler *s)
{
	if (!s)
		return;
	free(s->heap);
	free(s);
}

/* splitmix64: a full-period 64-bit generator; u in [0, 1) with 53 bits. */
static double next_uniform(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return (double)(z >> 11) * 0x1.0p-53;
}

static void sift_down(float *h, uint32_t n, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < n && h[l] < h[m])
			m = l;
		if (r < n && h[r] < h[m])
			m = r;
		if (m == i)
			return;
		float t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static void sift_up(float *h, uint32_t i)
{
	while (i > 0 && h[(i - 1) / 2] > h[i]) {
		float t = h[i];
		h[i] = h[(i - 1) / 2];
		h[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

/* The k-th largest logit (HF keeps every id scoring at least this, scaled). */
static float top_k_threshold(struct sampler *s, const float *z, uint32_t n, uint32_t *held)
{
	uint32_t k = s->p.top_k, size = 0;
	for (uint32_t i = 0; i < n; i++) {
		float v = z[i];
		if (isnan(v))
			continue;
		if (size < k) {
			s->heap[size] = v;
			sift_up(s->heap, size++);
		} else if (v > s->heap[0]) {
			s->heap[0] = v;
			sift_down(s->heap, k, 0);
		}
	}
	*held = size;
	return size ? s->heap[0] : -INFINITY;
}

static int32_t argmax(const float *z, uint32_t n)
{
	uint32_t best = 0;
	for (uint32_t i = 1; i < n; i++)
		if (z[i] > z[best] || (isnan(z[best]) && !isnan(z[i])))
			best = i;
	return (int32_t)best;
}

int32_t sampler_pick(struct sampler *s, const float *logits, uint32_t n_vocab)
{
	if (n_vocab == 0 || n_vocab > INT32_MAX)
		return -EINVAL;
	if (s->p.temperature <= 0)
		return argmax(logits, n_vocab);
	/* HF divides by T in f32: the exact tests below use z / t as it does.
	 * x ↦ x / t is monotone, so the maximum and the k-th largest of the
	 * scaled logits are those of the raw ones, scaled. */
	const float t = s->p.temperature;
	const bool use_k = s->p.top_k && s->p.top_k < n_vocab;
	float zmax_raw = -INFINITY, kth_raw = -INFINITY;
	if (use_k) {
		uint32_t held;
		kth_raw = top_k_threshold(s, logits, n_vocab, &held);
		for (uint32_t i = 0; i < held; i++) /* the maximum is among the k largest */
			zmax_raw = fmaxf(zmax_raw, s->heap[i]);
	} else {
		for (uint32_t i = 0; i < n_vocab; i++)
			zmax_raw = fmaxf(zmax_raw, logits[i]);
	}
	const float zmax = zmax_raw / t;
	if (!(zmax > -INFINITY) || isinf(zmax))
		return argmax(logits, n_vocab); /* nothing finite to weigh */
	const float kth = kth_raw / t;
	/* A raw-space bound under which no id is kept (with slack for the
	 * rounding of z / t and of exp), so the exact tests run on few ids. */
	float lo = -INFINITY;
	if (t >= 1e-3f && t <= 1e3f) {
		if (use_k)
			lo = kth_raw;
		if (s->p.min_p > 0)
			lo = fmaxf(lo, t * (zmax + logf(s->p.min_p)));
		if (isfinite(lo))
			lo -= fabsf(lo) * 0x1p-12f + 0x1p-12f;
	}
	/* Weights e^(z − zmax) = π_i / π_max; min-p drops π_i < p·π_max. The
	 * maximum (weight 1) always stays. */
	double sum = 0;
	for (uint32_t i = 0; i < n_vocab; i++) {
		if (!(logits[i] >= lo))
			continue;
		float v = logits[i] / t;
		if (!(v >= kth))
			continue;
		double w = exp((double)v - zmax);
		if (w >= s->p.min_p)
			sum += w;
	}
	double u = next_uniform(&s->rng) * sum, acc = 0;
	int32_t last = -1;
	for (uint32_t i = 0; i < n_vocab; i++) {
		if (!(logits[i] >= lo))
			continue;
		float v = logits[i] / t;
		if (!(v >= kth))
			continue;
		double w = exp((double)v - zmax);
		if (w < s->p.min_p)
			continue;
		acc += w;
		last = (int32_t)i;
		if (u < acc)
			return last;
	}
	return last >= 0 ? last : argmax(logits, n_vocab); /* u rounding at the end */
}

void sampler_bitmap_set(uint32_t *bits, uint32_t n_vocab, int32_t id)
{
	if (id >= 0 && (uint32_t)id < n_vocab)
		bits[(uint32_t)id / 32] |= 1u << ((uint32_t)id % 32);
}

void sampler_penalize(float *logits, uint32_t n_vocab, const uint32_t *bits, float r)
{
	for (uint32_t v = 0; v < n_vocab; v++)
		if ((bits[v / 32] >> (v % 32)) & 1u)
			logits[v] = logits[v] < 0 ? logits[v] * r : logits[v] / r;
}
