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

/* The raw-space bound under which no id is kept (with slack for the
 * rounding of z / t and of exp), so the exact tests run on few ids. */
static float raw_bound(const struct sampler *s, float t, bool use_k, float kth_raw, float zmax)
{
	float lo = -INFINITY;
	if (t >= 1e-3f && t <= 1e3f) {
		if (use_k)
			lo = kth_raw;
		if (s->p.min_p > 0)
			lo = fmaxf(lo, t * (zmax + logf(s->p.min_p)));
		if (isfinite(lo))
			lo -= fabsf(lo) * 0x1p-12f + 0x1p-12f;
	}
	return lo;
}

/* Weights e^(z − zmax) = π_i / π_max; min-p drops π_i < p·π_max. The
 * maximum (weight 1) always stays. Walks z[0..n) in order (ids ascending)
 * and returns the index drawn, or -1 when nothing is kept. */
static int64_t draw(struct sampler *s, const float *z, uint32_t n, float t, float lo, float kth,
		    float zmax)
{
	double sum = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (!(z[i] >= lo))
			continue;
		float v = z[i] / t;
		if (!(v >= kth))
			continue;
		double w = exp((double)v - zmax);
		if (w >= s->p.min_p)
			sum += w;
	}
	double u = next_uniform(&s->rng) * sum, acc = 0;
	int64_t last = -1;
	for (uint32_t i = 0; i < n; i++) {
		if (!(z[i] >= lo))
			continue;
		float v = z[i] / t;
		if (!(v >= kth))
			continue;
		double w = exp((double)v - zmax);
		if (w < s->p.min_p)
			continue;
		acc += w;
		last = i;
		if (u < acc)
			return last;
	}
	return last; /* u rounding at the end */
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
	const float lo = raw_bound(s, t, use_k, kth_raw, zmax);
	int64_t i = draw(s, logits, n_vocab, t, lo, kth_raw / t, zmax);
	return i >= 0 ? (int32_t)i : argmax(logits, n_vocab);
}

bool sampler_candidates_usable(const struct sampler *s)
{
	const float t = s->p.temperature;
	return t >= 1e-3f && t <= 1e3f && s->p.min_p > 0;
}

void sampler_candidate_params(const struct sampler *s, float *t, float *log_min_p)
{
	*t = s->p.temperature;
	*log_min_p = s->p.min_p > 0 ? logf(s->p.min_p) : -INFINITY;
}

/* Why this equals sampler_pick on the full row. Outside the candidates
 * every logit is < b <= sampler_pick's min-p bound lo_p, so:
 *  - the maximum is a candidate;
 *  - n >= top_k: the k largest logits are all candidates, so their k-th
 *    largest (ties counted, as the heap counts them) is the row's;
 *  - n < top_k: the row's k-th largest is not a candidate, so it is < lo_p:
 *    the bound is lo_p either way and every id above lo_p passes the
 *    z/t >= kth test, exactly as with kth = -inf, which is used here;
 *  - ids outside fail `z >= lo`, add nothing to the sums, and the walk in
 *    id order over the candidates meets the kept ids in the same order.
 * So the sums, the single draw and the id are bit for bit sampler_pick's. */
int32_t sampler_pick_candidates(struct sampler *s, uint32_t *ids, float *logits, uint32_t n,
				uint32_t n_vocab)
{
	if (n_vocab == 0 || n_vocab > INT32_MAX || n > n_vocab)
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++)
		if (ids[i] >= n_vocab)
			return -EINVAL;
	if (!sampler_candidates_usable(s) || n == 0)
		return -EAGAIN;
	/* Insertion sort by id: n is small (the device caps it, ~64). */
	for (uint32_t i = 1; i < n; i++) {
		uint32_t id = ids[i];
		float z = logits[i];
		uint32_t j = i;
		for (; j > 0 && ids[j - 1] > id; j--) {
			ids[j] = ids[j - 1];
			logits[j] = logits[j - 1];
		}
		ids[j] = id;
		logits[j] = z;
	}
	for (uint32_t i = 1; i < n; i++)
		if (ids[i] == ids[i - 1])
			return -EINVAL;
	const float t = s->p.temperature;
	const bool use_k = s->p.top_k && s->p.top_k < n_vocab;
	float zmax_raw = -INFINITY, kth_raw = -INFINITY;
	for (uint32_t i = 0; i < n; i++)
		zmax_raw = fmaxf(zmax_raw, logits[i]);
	if (use_k && n >= s->p.top_k) {
		uint32_t held;
		kth_raw = top_k_threshold(s, logits, n, &held);
	}
	const float zmax = zmax_raw / t;
	if (!(zmax > -INFINITY) || isinf(zmax))
		return -EAGAIN;
	const float lo = raw_bound(s, t, use_k, kth_raw, zmax);
	int64_t i = draw(s, logits, n, t, lo, kth_raw / t, zmax);
	if (i < 0) /* never (the maximum stays); the full row's argmax, as sampler_pick */
		i = argmax(logits, n);
	return (int32_t)ids[i];
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
