/* model/sampling.h — the CPU half of HF-order sampling (spec §7.2) for one
 * sequence: temperature → top-k (ties at the k-th value kept, as HF) →
 * min-p → multinomial with the sequence's own seeded RNG.
 *
 * The repetition penalty (step 1) and greedy argmax run on the GPU
 * (gpu_op_repetition_penalty, gpu_op_argmax); sampler_penalize is the same
 * step on the CPU for a CPU backend and for tests. The draw stays on the
 * CPU (the RNG and the exact tests are easier to check here), but the
 * device can cut a row down to its min-p candidates first (vk/captioner.c,
 * shaders/sample_candidates.comp): sampler_pick_candidates then gives
 * sampler_pick's id from those few, with no 256 KiB readback.
 *
 * The RNG is our own (splitmix64), not torch's: streams are reproducible
 * for a seed but differ from transformers' draws (the distribution is the
 * same). One sampler per sequence, one thread at a time; sampler_pick
 * allocates nothing.
 */
#ifndef CAPTIOND_MODEL_SAMPLING_H
#define CAPTIOND_MODEL_SAMPLING_H

#include <stdbool.h>
#include <stdint.h>

struct sampler_params {
	float temperature;        /* <= 0: greedy (argmax, first maximum wins) */
	uint32_t top_k;           /* 0: off (HF default 50) */
	float min_p;              /* 0: off; in [0, 1] */
	float repetition_penalty; /* 1: off; > 0 */
};

struct sampler;

/* Returns 0 or -EINVAL (a parameter out of range, top_k > 65536). */
int sampler_create(const struct sampler_params *p, uint64_t seed, struct sampler **out);
void sampler_destroy(struct sampler *s); /* NULL-safe */

/* Pick the next id from logits [n_vocab] (already penalized), by the
 * params: argmax when greedy, else a draw. Returns the id (>= 0) or
 * -EINVAL (n_vocab 0 or above INT32_MAX). */
int32_t sampler_pick(struct sampler *s, const float *logits, uint32_t n_vocab);

/* Candidate sampling: a device pass keeps only the ids of a row whose
 * (penalized) logit is >= sampler_candidate_bound(zmax), zmax its largest
 * logit; every other id fails sampler_pick's min-p test, so picking among
 * them gives sampler_pick's id and RNG draw on the full row.
 *
 * Returns false when the candidate path cannot be used with these params:
 * greedy, min_p 0 (nothing bounds the kept set) or a temperature outside
 * [1e-3, 1e3] (sampler_pick's raw-space bound is off there). */
bool sampler_candidates_usable(const struct sampler *s);
/* ln(min_p) and the temperature, for the device pass's bound
 * t·(zmax/t + ln min_p) minus a slack at least 4x sampler_pick's. */
void sampler_candidate_params(const struct sampler *s, float *t, float *log_min_p);

/* sampler_pick's result on the full row of n_vocab logits, given only ids
 * [n] / logits [n] (any order; sorted by id here, in place) of its ids whose
 * logit is >= some bound b with b <= sampler_pick's min-p bound: every id
 * of the row at or above b must be there, nothing else, the row has no NaN.
 * Draws exactly as sampler_pick would. Returns the id, or -EAGAIN when the
 * full row is needed (n 0, an infinite maximum, params not usable), or
 * -EINVAL (n > n_vocab, an id out of range). */
int32_t sampler_pick_candidates(struct sampler *s, uint32_t *ids, float *logits, uint32_t n,
				uint32_t n_vocab);

/* Words of a presence bitmap over n_vocab ids (id v: bit v % 32 of word
 * v / 32), the layout gpu_op_repetition_penalty reads. */
static inline uint32_t sampler_bitmap_words(uint32_t n_vocab)
{
	return (uint32_t)(((uint64_t)n_vocab + 31) / 32);
}
/* Mark id present; ids outside [0, n_vocab) are ignored. */
void sampler_bitmap_set(uint32_t *bits, uint32_t n_vocab, int32_t id);

/* HF repetition penalty in place: z ← z·r if z < 0 else z / r for every id
 * whose bit is set. */
void sampler_penalize(float *logits, uint32_t n_vocab, const uint32_t *bits, float r);

#endif
