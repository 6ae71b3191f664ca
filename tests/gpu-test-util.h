/* tests/gpu-test-util.h — what every gpu-suite test needs: a device with the
 * validation layer and its error-counting messenger, pipelines, a staging
 * ring and a recorder; tensors made from host arrays; NMSE.
 *
 * gpu_test_open() exits 77 with the reason when there is no Vulkan device.
 * The test must CHECK(gpu_test_close(&t) == 0): that fails it on any
 * validation error (tests/check.h counters are per test program, so this
 * file never CHECKs itself).
 */
#ifndef CAPTIOND_TESTS_GPU_TEST_UTIL_H
#define CAPTIOND_TESTS_GPU_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "vk/buffer.h"
#include "vk/device.h"
#include "vk/ops.h"
#include "vk/pipeline.h"
#include "vk/recorder.h"
#include "vk/staging.h"

struct gpu_test {
	struct gpu_device *dev;
	struct gpu_pipelines *pipes;
	struct gpu_staging *staging;
	struct gpu_recorder *rec;
	struct gpu_buffer *bufs[64]; /* freed by gpu_test_close */
	int n_bufs;
};

/* max_binding_bytes: 0 or a smaller binding window (see gpu_device_config). */
void gpu_test_open(struct gpu_test *t, uint64_t max_binding_bytes);
/* Frees everything; returns the number of validation errors seen. */
uint32_t gpu_test_close(struct gpu_test *t);

/* A tensor of `type` [ne0, ne1] in its own buffer of `kind`, filled with
 * `data` (row_bytes * ne1 bytes) when data is non-NULL. NULL-free: aborts
 * the test on failure (tests may). */
struct gpu_tensor gpu_test_tensor(struct gpu_test *t, enum gpu_mem_kind kind, uint32_t type,
				  uint32_t ne0, uint32_t ne1, const void *data);
/* Read a tensor back into host memory (gpu_tensor_bytes bytes). */
int gpu_test_read(struct gpu_test *t, const struct gpu_tensor *tensor, void *dst);

/* sum((got - ref)^2) / sum(ref^2) */
double gpu_test_nmse(const float *got, const double *ref, size_t n);

/* Deterministic pseudo-random numbers (xorshift64*), seeded per test case. */
uint64_t gpu_test_rand(uint64_t *state);
float gpu_test_uniform(uint64_t *state, float lo, float hi);

/* bytes of random blocks of a weight type (F32, F16, BF16, Q8_0, Q4_0, Q6_K)
 * whose scales are finite and moderate, so products stay well inside f32. */
void gpu_test_random_weights(uint32_t type, uint8_t *dst, uint64_t bytes, uint64_t *rng);

/* Seconds on a monotonic clock. */
double gpu_test_now(void);

#endif
