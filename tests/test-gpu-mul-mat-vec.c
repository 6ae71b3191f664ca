/* tests/test-gpu-mul-mat-vec.c — every mul_mat_vec variant against a plain-C
 * reference (dequantize_row, then a double-precision dot) on LFM2 shapes.
 *
 * Weights are random bytes (any bit pattern is a valid block; scales drawn
 * from a finite range) so every bit of the layout is exercised; x is
 * uniform in [-1, 1]. Each W sits at an offset that is not a multiple of the
 * storage alignment, so the binding step-back is exercised too.
 *
 * NMSE bound 1e-9 for every type: the shader and the reference dequantize to
 * the same f32 values, so only the f32 summation order differs (measured
 * ~1e-14 on lavapipe); a wrong index or layout gives NMSE ~ 1.
 */
#include "model/quant.h"
#include "tests/check.h"
#include "tests/gpu-test-util.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NMSE_BOUND 1e-9

/* y = W·x for n vectors; W is [K, M] of type. */
static void run_case(struct gpu_test *t, uint32_t type, uint32_t K, uint32_t M, uint32_t n,
		     uint64_t seed)
{
	const struct tensor_type_info *ti = tensor_type_info(type);
	uint64_t rng = seed * 0x9e3779b97f4a7c15ull + 1;
	uint64_t rb = 0;
	CHECK(tensor_row_bytes(type, K, &rb) == 0);
	uint64_t wbytes = rb * M, woff = 3ull * ti->block_bytes;
	uint8_t *w = malloc(wbytes);
	float *x = malloc((size_t)K * n * sizeof *x);
	float *y = malloc((size_t)M * n * sizeof *y);
	float *row = malloc((size_t)K * sizeof *row);
	double *ref = malloc((size_t)M * n * sizeof *ref);
	gpu_test_random_weights(type, w, wbytes, &rng);
	for (uint64_t i = 0; i < (uint64_t)K * n; i++)
		x[i] = gpu_test_uniform(&rng, -1, 1);

	struct gpu_buffer *wbuf;
	CHECK(gpu_buffer_create(t->dev, GPU_MEM_WEIGHTS, woff + wbytes, "W", &wbuf) == 0);
	CHECK(gpu_staging_write(t->staging, wbuf, woff, w, wbytes) == 0);
	CHECK(gpu_staging_flush(t->staging) == 0);
	struct gpu_tensor W = { wbuf, woff, type, { K, M }, 0 };
	struct gpu_tensor X = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, K, n, x);
	struct gpu_tensor Y = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, M, n, NULL);

	double t0 = gpu_test_now();
	CHECK(gpu_recorder_begin(t->rec) == 0);
	CHECK(gpu_op_mul_mat_vec(t->rec, "mul_mat_vec", &W, &X, &Y) == 0);
	CHECK(gpu_recorder_submit(t->rec) == 0);
	CHECK(gpu_recorder_wait(t->rec) == 0);
	double t1 = gpu_test_now();
	CHECK(gpu_test_read(t, &Y, y) == 0);

	for (uint32_t r = 0; r < M; r++) {
		CHECK(dequantize_row(type, w + (uint64_t)r * rb, row, K) == 0);
		for (uint32_t c = 0; c < n; c++) {
			double s = 0;
			for (uint32_t k = 0; k < K; k++)
				s += (double)row[k] * x[(uint64_t)c * K + k];
			ref[(uint64_t)c * M + r] = s;
		}
	}
	double e = gpu_test_nmse(y, ref, (size_t)M * n);
	CHECKF(e < NMSE_BOUND, "%s K=%u M=%u n=%u: nmse %.3g", ti->name, K, M, n, e);
	fprintf(stderr, "mul_mat_vec %-4s K=%-5u M=%-5u n=%u: nmse %.2e, %u dispatches, %.1f ms\n",
		ti->name, K, M, n, e, gpu_recorder_dispatch_count(t->rec), (t1 - t0) * 1e3);
	gpu_buffer_destroy(wbuf);
	free(w);
	free(x);
	free(y);
	free(row);
	free(ref);
}

/* argv[1]: "layers" (default: every type on the layer shapes and small
 * batches) or "head" (the 65536-row output head; its own test so that each
 * stays well under 20 s in the ASan build). */
int main(int argc, char **argv)
{
	bool head = argc > 1 && strcmp(argv[1], "head") == 0;
	struct gpu_test t;
	gpu_test_open(&t, 0);
	if (head) {
		/* The tied output head of LFM2 in Q4_0 files (65536 x 1024, Q6_K),
		 * and F16: 128 MiB, more than one lavapipe binding once offset. */
		run_case(&t, TENSOR_Q6_K, 1024, 65536, 1, 1001);
		run_case(&t, TENSOR_F16, 1024, 65536, 1, 1002);
		CHECK(gpu_test_close(&t) == 0);
		return check_report();
	}
	static const uint32_t types[] = { TENSOR_F32, TENSOR_F16, TENSOR_Q8_0, TENSOR_Q4_0,
					  TENSOR_Q6_K };
	/* LFM2 shapes: hidden 1024 → 1024 (attention, conv), 1024 → 4608
	 * (feed-forward up), 4608 → 1024 (down). */
	static const uint32_t shapes[][2] = { { 1024, 1024 }, { 1024, 4608 }, { 4608, 1024 } };
	uint64_t seed = 1;
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
			run_case(&t, types[i], shapes[s][0], shapes[s][1], 1, seed++);
	/* Several vectors: within one workgroup's columns, and across two. */
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		run_case(&t, types[i], 1024, 256, 3, seed++);
		run_case(&t, types[i], 512, 128, GPU_MMV_MAX_COLS + 1, seed++);
	}
	CHECK(gpu_test_close(&t) == 0);
	return check_report();
}
