/* tests/test-sampling-candidates.c — sampler_pick_candidates against
 * sampler_pick: for random and adversarial rows (ties, -inf, NaN, all equal,
 * boundary values at the min-p bound, top-k 0/1/50/large, min-p 0 and 1),
 * the candidates a plain C extraction keeps (the device pass's rule:
 * z >= t·(zmax/t + ln min_p) minus a wide slack, at most CAP, else the full
 * row) give the same id as sampler_pick on the full row from the same seed,
 * draw after draw (one shared RNG stream per sampler: a draw too many or
 * too few would shift every later id).
 */
#include "model/sampling.h"
#include "tests/check.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CAP 64

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static double uniform(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

/* The device rule (shaders/sample_candidates.comp): n candidates, or
 * UINT32_MAX when the row has a NaN. */
static uint32_t extract(const float *z, uint32_t V, float t, float lmp, uint32_t *ids, float *out)
{
	float zmax = -INFINITY;
	for (uint32_t i = 0; i < V; i++) {
		if (isnan(z[i]))
			return UINT32_MAX;
		if (z[i] > zmax)
			zmax = z[i];
	}
	float lo = t * (zmax / t + lmp);
	lo -= fabsf(lo) * 0x1p-9f + 0x1p-9f;
	uint32_t n = 0;
	for (uint32_t i = 0; i < V; i++)
		if (z[i] >= lo) {
			if (n < CAP) {
				ids[n] = i;
				out[n] = z[i];
			}
			n++;
		}
	return n;
}

struct tally {
	uint32_t rows, used;
};

/* Pick `draws` times from row z with both samplers; ids must agree. */
static void compare(const struct sampler_params *p, const float *z, uint32_t V, uint64_t *rng,
		    uint32_t draws, struct tally *tl, const char *what)
{
	struct sampler *full, *cand;
	uint64_t seed = rng_next(rng);
	CHECK(sampler_create(p, seed, &full) == 0);
	CHECK(sampler_create(p, seed, &cand) == 0);
	uint32_t ids[CAP];
	float zs[CAP];
	float t, lmp;
	sampler_candidate_params(cand, &t, &lmp);
	uint32_t bad = 0;
	for (uint32_t d = 0; d < draws; d++) {
		int32_t want = sampler_pick(full, z, V);
		int32_t got = -EAGAIN;
		uint32_t n = sampler_candidates_usable(cand) ? extract(z, V, t, lmp, ids, zs) : UINT32_MAX;
		if (n <= CAP) {
			/* arbitrary order, as the device writes them */
			for (uint32_t i = n; i > 1; i--) {
				uint32_t j = (uint32_t)(rng_next(rng) % i);
				uint32_t a = ids[i - 1];
				float b = zs[i - 1];
				ids[i - 1] = ids[j];
				zs[i - 1] = zs[j];
				ids[j] = a;
				zs[j] = b;
			}
			got = sampler_pick_candidates(cand, ids, zs, n, V);
		}
		tl->rows++;
		if (got == -EAGAIN)
			got = sampler_pick(cand, z, V);
		else
			tl->used++;
		bad += got != want;
	}
	CHECKF(bad == 0, "%s: %u of %u draws differ", what, bad, draws);
	sampler_destroy(full);
	sampler_destroy(cand);
}

static const struct sampler_params lfm = { .temperature = 0.1f, .top_k = 50, .min_p = 0.15f,
					   .repetition_penalty = 1.05f };

static void test_random(void)
{
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	const float temps[] = { 0.1f, 0.7f, 1.0f, 2.0f, 0.001f, 1000.0f };
	const uint32_t ks[] = { 0, 1, 2, 5, 50, 1000 };
	const float mps[] = { 0.15f, 0.05f, 0.5f, 1.0f, 1e-6f };
	struct tally tl = { 0 };
	enum { V = 4096 };
	float *z = malloc(sizeof(float) * V);
	uint32_t *bits = calloc(sampler_bitmap_words(V), sizeof(uint32_t));
	for (uint32_t r = 0; r < 600; r++) {
		struct sampler_params p = lfm;
		p.temperature = temps[r % 6];
		p.top_k = ks[(r / 6) % 6];
		p.min_p = mps[(r / 36) % 5];
		double scale = 0.5 + 20 * uniform(&rng);
		uint32_t kind = (uint32_t)(rng_next(&rng) % 5);
		for (uint32_t i = 0; i < V; i++) {
			double g = uniform(&rng) + uniform(&rng) + uniform(&rng) - 1.5;
			z[i] = (float)(g * scale);
			if (kind == 1) /* coarse: many ties */
				z[i] = roundf(z[i] * 2) / 2;
			if (kind == 2 && rng_next(&rng) % 4 == 0)
				z[i] = -INFINITY;
		}
		if (kind == 3) /* a few leaders far above the rest */
			for (uint32_t j = 0; j < 8; j++)
				z[rng_next(&rng) % V] = (float)(scale * 3 + j % 3);
		if (kind == 4) { /* values right at the min-p bound of the leader */
			float top = (float)(scale * 2);
			z[rng_next(&rng) % V] = top;
			float b = p.temperature * (top / p.temperature + logf(p.min_p));
			for (uint32_t j = 0; j < 40; j++)
				z[rng_next(&rng) % V] = nextafterf(b, j % 2 ? INFINITY : -INFINITY) +
							(float)(j % 3) * 1e-6f * fabsf(b);
		}
		/* the penalty step, as the captioner applies it before picking */
		memset(bits, 0, sizeof(uint32_t) * sampler_bitmap_words(V));
		for (uint32_t j = 0; j < 30; j++)
			sampler_bitmap_set(bits, V, (int32_t)(rng_next(&rng) % V));
		sampler_penalize(z, V, bits, 1.05f);
		compare(&p, z, V, &rng, 20, &tl, "random row");
	}
	fprintf(stderr, "random rows: candidate path used for %u of %u draws\n", tl.used, tl.rows);
	CHECKF(tl.used > tl.rows / 2, "the candidate path was used for only %u of %u draws", tl.used,
	       tl.rows);
	free(z);
	free(bits);
}

static void test_adversarial(void)
{
	uint64_t rng = 12345;
	struct tally tl = { 0 };
	enum { V = 300 };
	float z[V];
	/* all equal: more than CAP candidates, full row */
	for (uint32_t i = 0; i < V; i++)
		z[i] = 1.5f;
	compare(&lfm, z, V, &rng, 50, &tl, "all equal");
	/* ties at the k-th value, top_k 3 */
	struct sampler_params k3 = lfm;
	k3.top_k = 3;
	k3.temperature = 1;
	k3.min_p = 0.01f;
	for (uint32_t i = 0; i < V; i++)
		z[i] = -20;
	z[10] = 2, z[20] = 1, z[30] = 1, z[40] = 1, z[50] = 0.5f;
	compare(&k3, z, V, &rng, 400, &tl, "top-k ties");
	CHECK(tl.used > 0);
	/* one leader, the rest -inf */
	for (uint32_t i = 0; i < V; i++)
		z[i] = -INFINITY;
	z[77] = 3;
	compare(&lfm, z, V, &rng, 50, &tl, "one finite");
	/* all -inf, and +inf leader: full row */
	z[77] = -INFINITY;
	compare(&lfm, z, V, &rng, 20, &tl, "all -inf");
	z[5] = INFINITY;
	z[6] = INFINITY;
	compare(&lfm, z, V, &rng, 20, &tl, "+inf");
	/* NaN in the row: full row */
	for (uint32_t i = 0; i < V; i++)
		z[i] = (float)(i % 17) - 8;
	z[3] = NAN;
	compare(&lfm, z, V, &rng, 50, &tl, "NaN");
	/* min_p 0 and greedy are not usable */
	struct sampler_params p0 = lfm;
	p0.min_p = 0;
	struct sampler *s;
	CHECK(sampler_create(&p0, 1, &s) == 0);
	CHECK(!sampler_candidates_usable(s));
	uint32_t ids[2] = { 1, 0 };
	float zs[2] = { 1, 2 };
	CHECK(sampler_pick_candidates(s, ids, zs, 2, V) == -EAGAIN);
	sampler_destroy(s);
	compare(&p0, z, V, &rng, 50, &tl, "min-p 0");
	struct sampler_params g = lfm;
	g.temperature = 0;
	CHECK(sampler_create(&g, 1, &s) == 0);
	CHECK(!sampler_candidates_usable(s));
	sampler_destroy(s);
	/* bad input */
	CHECK(sampler_create(&lfm, 1, &s) == 0);
	CHECK(sampler_pick_candidates(s, ids, zs, 0, V) == -EAGAIN);
	CHECK(sampler_pick_candidates(s, ids, zs, 2, 0) == -EINVAL);
	CHECK(sampler_pick_candidates(s, ids, zs, 3, 2) == -EINVAL);
	ids[0] = V;
	CHECK(sampler_pick_candidates(s, ids, zs, 2, V) == -EINVAL);
	ids[0] = 0, ids[1] = 0;
	CHECK(sampler_pick_candidates(s, ids, zs, 2, V) == -EINVAL);
	ids[0] = 4, ids[1] = 2;
	CHECK(sampler_pick_candidates(s, ids, zs, 2, V) == 2); /* zs sorted with ids: z 2 at id 2 */
	CHECK(ids[0] == 2 && zs[0] == 2);
	sampler_destroy(s);
}

/* The model's vocabulary size with the model's params. */
static void test_full_vocab(void)
{
	uint64_t rng = 777;
	struct tally tl = { 0 };
	enum { V = 65536 };
	float *z = malloc(sizeof(float) * V);
	for (uint32_t r = 0; r < 6; r++) {
		for (uint32_t i = 0; i < V; i++)
			z[i] = (float)((uniform(&rng) + uniform(&rng) + uniform(&rng) - 1.5) * 6);
		compare(&lfm, z, V, &rng, 30, &tl, "vocab 65536");
	}
	CHECKF(tl.used > 0, "vocab 65536: the candidate path was never used");
	free(z);
}

int main(void)
{
	test_adversarial();
	test_random();
	test_full_vocab();
	return check_report();
}
