/* bench/bench-matmul.c — gpu_op_mul_mat speed on the real device: for each
 * shape (N rows of X, M outputs, K) and weight type, the kernel the op
 * chooses ("auto": cooperative matrix where the device has it, tile picked
 * by grid size) and the tiled f32 kernel, timed over back-to-back
 * dispatches in one submit (best of 3 after a warm-up submit; the GPU is
 * kept busy for 0.3 s first so its clocks are up). Checks a sample of
 * outputs against a double-precision reference so a fast wrong kernel
 * cannot pass unnoticed. One JSON object per line on stdout.
 *
 *   bench-matmul [--iters N] [--small] [--sweep]   (device from CAPTIOND_VK_DEVICE;
 *   --small: 64 rows of X in every shape, for a smoke run on lavapipe;
 *   --sweep: also every cooperative-matrix tile forced)
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/quant.h"
#include "tests/gpu-test-util.h"
#include "vk/buffer.h"
#include "vk/device.h"
#include "vk/ops_matmul.h"
#include "vk/pipeline.h"
#include "vk/push.h"
#include "vk/recorder.h"
#include "vk/staging.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct ctx {
	struct gpu_device *dev;
	struct gpu_pipelines *pipes;
	struct gpu_staging *staging;
	struct gpu_recorder *rec;
};

/* The tiled kernel directly (one piece: every bench shape fits a binding). */
static int dispatch_tiled(struct ctx *c, const struct gpu_tensor *w, const struct gpu_tensor *x,
			  const struct gpu_tensor *y)
{
	enum gpu_pipe_id id = w->type == TENSOR_F16   ? GPU_PIPE_MUL_MAT_F16_F32
			      : w->type == TENSOR_Q8_0 ? GPU_PIPE_MUL_MAT_Q8_0_F32
						       : GPU_PIPE_MUL_MAT_Q4_0_F32;
	const struct gpu_pipeline *pl = gpu_pipelines_get(c->pipes, id);
	uint64_t wrow = 0;
	tensor_row_bytes(w->type, w->ne[0], &wrow);
	const struct tensor_type_info *ti = tensor_type_info(w->type);
	struct gpu_binding b[5];
	uint32_t wo, xo, yo;
	int ret;
	if ((ret = gpu_buffer_bind(c->dev, w->buffer, 0, wrow * w->ne[1], ti->block_bytes, false,
				   &b[0], &wo)) < 0 ||
	    (ret = gpu_buffer_bind(c->dev, x->buffer, 0, (uint64_t)x->ne[0] * x->ne[1] * 4, 4, false,
				   &b[1], &xo)) < 0 ||
	    (ret = gpu_buffer_bind(c->dev, y->buffer, 0, (uint64_t)y->ne[0] * y->ne[1] * 4, 4, true,
				   &b[2], &yo)) < 0)
		return ret;
	b[3] = b[4] = b[1];
	struct gpu_push_mul_mat pc = {
		.K = w->ne[0], .M = w->ne[1], .N = x->ne[1],
		.w_stride = (uint32_t)(wrow / ti->block_bytes),
		.x_stride = x->ne[0], .y_stride = y->ne[0],
	};
	return gpu_recorder_dispatch(c->rec, pl, "mul_mat.tiled", b, 5, &pc, sizeof pc,
				     (pc.M + 63) / 64, (pc.N + 63) / 64, 1);
}

/* Kernels one shape is timed with: K_TILED, else a tile. */
#define K_TILED (-1)
static const char *const tile_names[GPU_MM_TILE_COUNT] = { "auto", "L", "M", "S", "T", "V" };

#define BENCH_REPS 5

/* Seconds per dispatch of one submit of iters dispatches; < 0 on failure. */
static double time_kernel(struct ctx *c, int kern, const struct gpu_tensor *W,
			  const struct gpu_tensor *X, const struct gpu_tensor *Y, int iters)
{
	if (gpu_recorder_begin(c->rec) < 0)
		return -1;
	for (int i = 0; i < iters; i++) {
		int ret = kern == K_TILED ? dispatch_tiled(c, W, X, Y)
					  : gpu_op_mul_mat_tile(c->rec, "mul_mat", W, X, Y, NULL,
								(enum gpu_mm_tile)kern);
		if (ret < 0)
			return -1;
	}
	double t0 = now_s();
	if (gpu_recorder_submit(c->rec) < 0 || gpu_recorder_wait(c->rec) < 0)
		return -1;
	return (now_s() - t0) / iters;
}

static int bench_one(struct ctx *c, uint32_t type, uint32_t N, uint32_t M, uint32_t K,
		     const int *kernels, int n_kernels, int iters)
{
	const struct tensor_type_info *ti = tensor_type_info(type);
	uint64_t rng = 0x1234567ull + N + M + K + type, wrow = 0;
	tensor_row_bytes(type, K, &wrow);
	uint64_t wbytes = wrow * M, xbytes = (uint64_t)K * N * 4, ybytes = (uint64_t)M * N * 4;
	uint8_t *w = malloc(wbytes);
	float *x = malloc(xbytes), *y = malloc(ybytes), *row = malloc((size_t)K * 4);
	struct gpu_buffer *wb = NULL, *xb = NULL, *yb = NULL;
	int ret = -1;
	gpu_test_random_weights(type, w, wbytes, &rng);
	for (uint64_t i = 0; i < (uint64_t)K * N; i++)
		x[i] = gpu_test_uniform(&rng, -1, 1);
	if (gpu_buffer_create(c->dev, GPU_MEM_WEIGHTS, wbytes, "W", &wb) < 0 ||
	    gpu_buffer_create(c->dev, GPU_MEM_SCRATCH, xbytes, "X", &xb) < 0 ||
	    gpu_buffer_create(c->dev, GPU_MEM_SCRATCH, ybytes, "Y", &yb) < 0 ||
	    gpu_staging_write(c->staging, wb, 0, w, wbytes) < 0 ||
	    gpu_staging_write(c->staging, xb, 0, x, xbytes) < 0 || gpu_staging_flush(c->staging) < 0)
		goto out;
	struct gpu_tensor W = { wb, 0, type, { K, M }, 0 };
	struct gpu_tensor X = { xb, 0, TENSOR_F32, { K, N }, 0 };
	struct gpu_tensor Y = { yb, 0, TENSOR_F32, { M, N }, 0 };
	/* Round robin over the kernels, best of BENCH_REPS each after one warm
	 * round: clock or power dips then hit every kernel alike. */
	double best[GPU_MM_TILE_COUNT + 1];
	for (int ki = 0; ki < n_kernels; ki++)
		best[ki] = 1e30;
	for (int rep = 0; rep <= BENCH_REPS; rep++)
		for (int ki = 0; ki < n_kernels; ki++) {
			double t = time_kernel(c, kernels[ki], &W, &X, &Y, iters);
			if (t < 0)
				goto out;
			if (rep > 0 && t < best[ki])
				best[ki] = t;
		}
	for (int ki = 0; ki < n_kernels; ki++) {
		const int kern = kernels[ki];
		if (time_kernel(c, kern, &W, &X, &Y, 1) < 0)
			goto out;
		ret = -1;
		if (gpu_staging_read(c->staging, yb, 0, y, ybytes) < 0)
			goto out;
		/* sample: 16 rows of W against every 37th vector */
		double num = 0, den = 0;
		for (uint32_t s = 0; s < 16; s++) {
			uint32_t m = (uint32_t)(((uint64_t)s * 7919u) % M);
			dequantize_row(type, w + (uint64_t)m * wrow, row, K);
			for (uint32_t n = 0; n < N; n += 37) {
				double r = 0;
				for (uint32_t k = 0; k < K; k++)
					r += (double)row[k] * x[(uint64_t)n * K + k];
				double d = y[(uint64_t)n * M + m] - r;
				num += d * d;
				den += r * r;
			}
		}
		/* zero Y so the next kernel's sample cannot pass on stale outputs */
		memset(y, 0, ybytes);
		if (gpu_staging_write(c->staging, yb, 0, y, ybytes) < 0 ||
		    gpu_staging_flush(c->staging) < 0)
			goto out;
		bool cm = gpu_mul_mat_uses_coopmat(c->rec);
		const char *kname = kern == K_TILED ? "tiled" : cm ? "nv_coopmat" : "tiled";
		const char *tname = kern < 0 ? "-"
				    : kern == GPU_MM_TILE_AUTO && cm
					    ? tile_names[gpu_mul_mat_tile_for(M, N)]
					    : tile_names[kern];
		double tflops = 2.0 * N * M * K / best[ki] / 1e12;
		printf("{\"class\":\"bench\",\"bench\":\"matmul\",\"device\":\"%s\",\"kernel\":\"%s\","
		       "\"tile\":\"%s\",\"forced\":%s,\"type\":\"%s\",\"N\":%u,\"M\":%u,\"K\":%u,"
		       "\"iters\":%d,\"us\":%.2f,\"tflops\":%.2f,\"nmse_sample\":%.3g}\n",
		       gpu_device_caps(c->dev)->name, kname, tname,
		       kern > 0 ? "true" : "false", ti->name, N, M, K, iters, best[ki] * 1e6, tflops,
		       num / den);
		fflush(stdout);
	}
	ret = 0;
out:
	gpu_buffer_destroy(wb);
	gpu_buffer_destroy(xb);
	gpu_buffer_destroy(yb);
	free(w);
	free(x);
	free(y);
	free(row);
	return ret;
}

/* Keeps the GPU busy for about 0.3 s so its clocks are up before timing. */
static int warm_up(struct ctx *c)
{
	const uint32_t K = 2048, M = 2048, N = 2048;
	struct gpu_buffer *wb = NULL, *xb = NULL, *yb = NULL;
	int ret = -1;
	if (gpu_buffer_create(c->dev, GPU_MEM_WEIGHTS, (uint64_t)K * M * 2, "W", &wb) < 0 ||
	    gpu_buffer_create(c->dev, GPU_MEM_SCRATCH, (uint64_t)K * N * 4, "X", &xb) < 0 ||
	    gpu_buffer_create(c->dev, GPU_MEM_SCRATCH, (uint64_t)M * N * 4, "Y", &yb) < 0)
		goto out;
	struct gpu_tensor W = { wb, 0, TENSOR_F16, { K, M }, 0 };
	struct gpu_tensor X = { xb, 0, TENSOR_F32, { K, N }, 0 };
	struct gpu_tensor Y = { yb, 0, TENSOR_F32, { M, N }, 0 };
	double t0 = now_s();
	while (now_s() - t0 < 0.3) {
		if (gpu_recorder_begin(c->rec) < 0)
			goto out;
		for (int i = 0; i < 20; i++)
			if (gpu_op_mul_mat(c->rec, "warm-up", &W, &X, &Y, NULL) < 0)
				goto out;
		if (gpu_recorder_submit(c->rec) < 0 || gpu_recorder_wait(c->rec) < 0)
			goto out;
	}
	ret = 0;
out:
	gpu_buffer_destroy(wb);
	gpu_buffer_destroy(xb);
	gpu_buffer_destroy(yb);
	return ret;
}

#define T_F16 1u
#define T_Q8 2u
#define T_Q4 4u
#define T_ALL (T_F16 | T_Q8 | T_Q4)

int main(int argc, char **argv)
{
	int iters = 100;
	uint32_t small = 0;
	bool sweep = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc)
			iters = atoi(argv[++i]);
		else if (strcmp(argv[i], "--small") == 0)
			small = 64;
		else if (strcmp(argv[i], "--sweep") == 0)
			sweep = true;
		else
			iters = 0;
	}
	if (iters < 1 || iters > 200) {
		fprintf(stderr, "usage: bench-matmul [--iters 1..200] [--small] [--sweep]\n");
		return 2;
	}
	struct gpu_device_config cfg = { 0 };
	gpu_device_config_from_env(&cfg);
	struct ctx c = { 0 };
	int status = 1;
	if (gpu_device_create(&cfg, &c.dev) < 0 || gpu_pipelines_create(c.dev, NULL, &c.pipes) < 0 ||
	    gpu_staging_create(c.dev, 64u << 20, &c.staging) < 0 ||
	    gpu_recorder_create(c.dev, c.pipes, 256, &c.rec) < 0) {
		fprintf(stderr, "bench-matmul: no usable device\n");
		goto out;
	}
	/* (N, M, K, types, old): the 2026-11-21 baseline's five shapes (old: the
	 * tiled kernel too): one ViT-B FFN GEMM for 1024 patches, 4096³, an LFM2
	 * prefill of 256 tokens (1024 → 4608 and back), a vision projection;
	 * then the LFM2-450M prefill of 256 image + 15 text tokens (conv in/out,
	 * q/o, k/v, w1/w3, w2), the SigLIP2 encoder at 1 and 16 frames of 1024
	 * patches (fc1, fc2; 768 → 768 above), the projector of 256 tokens,
	 * and 32-sequence batched decode. */
	static const struct {
		uint32_t N, M, K, types;
		bool old;
	} shapes[] = {
		{ 1024, 3072, 768, T_ALL, true }, { 4096, 4096, 4096, T_ALL, true },
		{ 256, 4608, 1024, T_ALL, true }, { 256, 1024, 4608, T_ALL, true },
		{ 1024, 768, 768, T_ALL, true },
		{ 271, 3072, 1024, T_Q4 | T_Q8, false }, { 271, 1024, 1024, T_Q4 | T_Q8, false },
		{ 271, 512, 1024, T_Q4, false }, { 271, 4608, 1024, T_Q4 | T_Q8, false },
		{ 271, 1024, 4608, T_Q4 | T_Q8, false },
		{ 1024, 768, 3072, T_F16 | T_Q8, false },
		{ 16384, 3072, 768, T_F16 | T_Q8, false }, { 16384, 768, 3072, T_F16 | T_Q8, false },
		{ 256, 1024, 3072, T_F16 | T_Q8, false },
		{ 32, 4608, 1024, T_Q4, false }, { 32, 1024, 4608, T_Q4, false },
	};
	static const uint32_t types[] = { TENSOR_F16, TENSOR_Q8_0, TENSOR_Q4_0 };
	const bool cm = gpu_mul_mat_uses_coopmat(c.rec);
	if (!small && warm_up(&c) < 0) /* lavapipe smoke runs need no clocks up */
		goto out;
	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
		for (size_t t = 0; t < 3; t++) {
			if (!(shapes[s].types & (1u << t)))
				continue;
			int kernels[GPU_MM_TILE_COUNT + 1], nk = 0;
			kernels[nk++] = GPU_MM_TILE_AUTO;
			if (cm && sweep) {
				for (int k = 1; k < GPU_MM_TILE_COUNT; k++)
					kernels[nk++] = k;
			}
			if (cm && shapes[s].old)
				kernels[nk++] = K_TILED; /* else "auto" was the tiled kernel already */
			const uint32_t N = small ? small : shapes[s].N;
			const double flops = 2.0 * N * shapes[s].M * shapes[s].K;
			int it = (int)fmin((double)iters, fmax(10.0, iters * 2.5e9 / flops));
			if (bench_one(&c, types[t], N, shapes[s].M, shapes[s].K, kernels, nk, it) < 0)
				goto out;
		}
	status = 0;
out:
	gpu_recorder_destroy(c.rec);
	gpu_staging_destroy(c.staging);
	gpu_pipelines_destroy(c.pipes);
	gpu_device_destroy(c.dev);
	return status;
}
