/* tests/lm-cpu.h — a plain-C struct lm_backend (model/lm_graph.h): every op
 * written the obvious way in f32 (double sums for norms and attention), so
 * the graph and the sequence API can be checked against the transformers
 * goldens without a GPU, and the Vulkan binding against it. Not fast. */
#ifndef CAPTIOND_TESTS_LM_CPU_H
#define CAPTIOND_TESTS_LM_CPU_H

#include "model/lm_graph.h"

/* Fills be; be->ctx is NULL (the CPU backend has no state). */
void lm_cpu_backend(struct lm_backend *be);
/* The same with mul_mat_fused (composed of the plain ops) for every step, so
 * the graph's fused path is checked against the goldens too. */
void lm_cpu_backend_fused(struct lm_backend *be);
/* Adds the argmax op to be (the graph's device-argmax and greedy-chunk
 * paths; without it the graph takes the argmax on the host). */
void lm_cpu_backend_argmax(struct lm_backend *be);

#endif
