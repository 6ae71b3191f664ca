/* tests/test-gpu-split.c — tensors larger than one binding. The device is
 * opened with a 64 KiB binding window (gpu_device_config.max_binding_bytes)
 * so that small tensors take the path a 65536-row head takes on lavapipe's
 * 128 MiB bindings: the ops must cut them into pieces, each at an aligned
 * binding, and the results must equal the plain-C reference.
 * Bounds as in the per-op tests: mul_mat_vec 1e-9, rms_norm 1e-10, add exact.
 */
#include "model/quant.h"
#include "tests/check.h"
#include "tests/gpu-test-util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW (64u << 10)

static void split_mul_mat_vec(struct gpu_test *t, uint32_t type, uint32_t K, uint32_t M,
			      uint32_t n, uint64_t rng)
{
	uint64_t rb = 0;
	CHECK(tensor_row_bytes(type, K, &rb) == 0);
	uint8_t *w = malloc(rb * M);
	float *x = malloc((size_t)K * n * 4), *y = malloc((size_t)M * n * 4), *row = malloc(K * 4);
	double *ref = malloc((size_t)M * n * 8);
	for (uint64_t i = 0; i < rb * M; i++)
		w[i] = (uint8_t)(gpu_test_rand(&rng) >> 56);
	if (type == TENSOR_Q4_0) /* finite scales */
		for (uint64_t b = 0; b < rb * M / sizeof(struct block_q4_0); b++) {
			uint16_t d = f32_to_fp16(gpu_test_uniform(&rng, 0.001f, 0.05f));
			memcpy(w + b * sizeof(struct block_q4_0), &d, 2);
		}
	if (type == TENSOR_F32)
		for (uint64_t i = 0; i < (uint64_t)K * M; i++) {
			float f = gpu_test_uniform(&rng, -1, 1);
			memcpy(w + i * 4, &f, 4);
		}
	for (size_t i = 0; i < (size_t)K * n; i++)
		x[i] = gpu_test_uniform(&rng, -1, 1);
	struct gpu_tensor W = gpu_test_tensor(t, GPU_MEM_WEIGHTS, type, K, M, w);
	struct gpu_tensor X = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, K, n, x);
	struct gpu_tensor Y = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, M, n, NULL);
	CHECK(gpu_recorder_begin(t->rec) == 0);
	CHECK(gpu_op_mul_mat_vec(t->rec, "split mul_mat_vec", &W, &X, &Y) == 0);
	uint32_t pieces = gpu_recorder_dispatch_count(t->rec);
	CHECKF(pieces >= (rb * M + WINDOW - 1) / WINDOW, "%u pieces", pieces);
	/* One vector: the pieces write disjoint windows of y, no barrier. */
	if (n == 1)
		CHECK(gpu_recorder_barrier_count(t->rec) == 0);
	CHECK(gpu_recorder_submit(t->rec) == 0);
	CHECK(gpu_recorder_wait(t->rec) == 0);
	CHECK(gpu_test_read(t, &Y, y) == 0);
	for (uint32_t r = 0; r < M; r++) {
		CHECK(dequantize_row(type, w + r * rb, row, K) == 0);
		for (uint32_t c = 0; c < n; c++) {
			double s = 0;
			for (uint32_t k = 0; k < K; k++)
				s += (double)row[k] * x[(size_t)c * K + k];
			ref[(size_t)c * M + r] = s;
		}
	}
	double e = gpu_test_nmse(y, ref, (size_t)M * n);
	CHECKF(e < 1e-9, "type %u K=%u M=%u n=%u: nmse %.3g", type, K, M, n, e);
	fprintf(stderr, "split mul_mat_vec type %u [%u, %u] n=%u: %u pieces, nmse %.2e\n", type,
		K, M, n, pieces, e);
	free(w);
	free(x);
	free(y);
	free(row);
	free(ref);
}

static void split_norm_add(struct gpu_test *t, uint32_t K, uint32_t n, uint64_t rng)
{
	size_t N = (size_t)K * n;
	float *x = malloc(N * 4), *w = malloc(K * 4), *bias = malloc(K * 4), *y = malloc(N * 4);
	double *ref = malloc(N * 8);
	for (size_t i = 0; i < N; i++)
		x[i] = gpu_test_uniform(&rng, -2, 2);
	for (uint32_t i = 0; i < K; i++) {
		w[i] = gpu_test_uniform(&rng, 0.5f, 1.5f);
		bias[i] = gpu_test_uniform(&rng, -1, 1);
	}
	struct gpu_tensor X = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, K, n, x);
	struct gpu_tensor Wt = gpu_test_tensor(t, GPU_MEM_WEIGHTS, TENSOR_F32, K, 1, w);
	struct gpu_tensor Bias = gpu_test_tensor(t, GPU_MEM_WEIGHTS, TENSOR_F32, K, 1, bias);
	struct gpu_tensor Y = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, K, n, NULL);
	struct gpu_tensor Z = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, K, n, NULL);

	/* rms_norm, then y + bias (broadcast) and y + x, in one submit. */
	CHECK(gpu_recorder_begin(t->rec) == 0);
	CHECK(gpu_op_rms_norm(t->rec, "split rms_norm", &X, &Wt, 1e-6f, &Y) == 0);
	uint32_t after_norm = gpu_recorder_dispatch_count(t->rec);
	CHECK(after_norm > 1);
	CHECK(gpu_op_add(t->rec, "split add bias", &Y, &Bias, &Y) == 0);
	CHECK(gpu_op_add(t->rec, "split add residual", &Y, &X, &Z) == 0);
	CHECK(gpu_recorder_dispatch_count(t->rec) >= 3 * after_norm);
	CHECK(gpu_recorder_submit(t->rec) == 0);
	CHECK(gpu_recorder_wait(t->rec) == 0);
	CHECK(gpu_test_read(t, &Z, y) == 0);
	for (uint32_t r = 0; r < n; r++) {
		const float *xr = x + (size_t)r * K;
		double ss = 0;
		for (uint32_t i = 0; i < K; i++)
			ss += (double)xr[i] * xr[i];
		double scale = 1.0 / sqrt(ss / K + 1e-6);
		for (uint32_t i = 0; i < K; i++)
			ref[(size_t)r * K + i] = xr[i] * scale * w[i] + bias[i] + xr[i];
	}
	double e = gpu_test_nmse(y, ref, N);
	CHECKF(e < 1e-10, "norm+add K=%u n=%u: nmse %.3g", K, n, e);
	fprintf(stderr, "split rms_norm + add [%u, %u]: %u dispatches, nmse %.2e\n", K, n,
		gpu_recorder_dispatch_count(t->rec), e);
	free(x);
	free(w);
	free(bias);
	free(y);
	free(ref);
}

int main(void)
{
	struct gpu_test t;
	gpu_test_open(&t, WINDOW);
	CHECK(gpu_device_caps(t.dev)->max_binding_bytes == WINDOW);
	split_mul_mat_vec(&t, TENSOR_Q4_0, 1024, 512, 1, 101);  /* 288 KiB of blocks */
	split_mul_mat_vec(&t, TENSOR_F32, 256, 1024, 2, 102);   /* 1 MiB, two vectors */
	split_norm_add(&t, 1024, 96, 103);                      /* 384 KiB activations */
	/* One row larger than the window cannot be bound: a clear error. */
	struct gpu_tensor W = gpu_test_tensor(&t, GPU_MEM_WEIGHTS, TENSOR_F32, 32768, 1, NULL);
	struct gpu_tensor X = gpu_test_tensor(&t, GPU_MEM_SCRATCH, TENSOR_F32, 32768, 1, NULL);
	struct gpu_tensor Y = gpu_test_tensor(&t, GPU_MEM_SCRATCH, TENSOR_F32, 1, 1, NULL);
	CHECK(gpu_recorder_begin(t.rec) == 0);
	CHECK(gpu_op_mul_mat_vec(t.rec, "row too long", &W, &X, &Y) == -E2BIG);
	CHECK(gpu_recorder_submit(t.rec) == 0);
	CHECK(gpu_recorder_wait(t.rec) == 0);
	CHECK(gpu_test_close(&t) == 0);
	return check_report();
}
