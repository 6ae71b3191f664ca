/* tests/test-gpu-mul-mat.c — gpu_op_mul_mat against a plain-C reference
 * (dequantize_row, then double-precision dots and the epilogue in double)
 * on model shapes: LFM2 prefill 1024→1024, 1024→4608, 4608→1024; the ViT
 * MLP 768→3072 / 3072→768; odd numbers of rows (7, 161).
 *
 * Weights are random bytes with finite scales (tests/test-gpu-mul-mat-vec.c
 * does the same), X uniform in [-1, 1]; W sits at an unaligned offset
 * (scalar loads), except in the "aligned" cases (16-byte loads).
 *
 * NMSE bounds: 1e-9 for the tiled f32 kernel (same dequantized values, only
 * the summation order differs; a wrong index gives ~1); 2e-5 for the
 * cooperative-matrix kernel, which rounds X and W to f16 (relative error
 * 2^-11 per operand: NMSE ~1e-7 expected).
 *
 * argv[1]: "types" (each weight type), "shapes" (the larger shapes),
 * "tiles" (each cooperative-matrix tile shape forced on prefill and encoder
 * shapes with ragged edges; skipped without cooperative matrices),
 * "epilogue" (bias, residual, in-place residual, GELU-tanh, GELU-erf, each
 * on its own), "split" (tiny binding windows: pieces in both directions).
 * Each stays under 25 s on lavapipe (2 busy cores).
 */
#include "model/quant.h"
#include "tests/check.h"
#include "tests/gpu-test-util.h"
#include "vk/ops_matmul.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static double g_bound;
static enum gpu_mm_tile g_tile = GPU_MM_TILE_AUTO;

struct mm_case {
	uint32_t type, K, M, N;
	bool bias, residual, in_place;
	bool aligned; /* W at offset 0: the cooperative-matrix kernel's 16-byte loads */
	enum gpu_act act;
};

static double act_ref(enum gpu_act act, double v)
{
	if (act == GPU_ACT_GELU_TANH)
		return 0.5 * v * (1 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
	if (act == GPU_ACT_GELU_ERF)
		return 0.5 * v * (1 + erf(v / sqrt(2.0)));
	return v;
}

static void run_case(struct gpu_test *t, const struct mm_case *c, uint64_t seed)
{
	const struct tensor_type_info *ti = tensor_type_info(c->type);
	const uint32_t K = c->K, M = c->M, N = c->N;
	uint64_t rng = seed * 0x9e3779b97f4a7c15ull + 1, rb = 0;
	CHECK(tensor_row_bytes(c->type, K, &rb) == 0);
	uint64_t wbytes = rb * M, woff = c->aligned ? 0 : 3ull * ti->block_bytes;
	uint8_t *w = malloc(wbytes);
	float *wf = malloc((size_t)K * M * sizeof *wf);
	float *x = malloc((size_t)K * N * sizeof *x);
	float *y = malloc((size_t)M * N * sizeof *y);
	float *r = malloc((size_t)M * N * sizeof *r);
	float *bias = malloc((size_t)M * sizeof *bias);
	double *ref = malloc((size_t)M * N * sizeof *ref);
	gpu_test_random_weights(c->type, w, wbytes, &rng);
	for (uint64_t i = 0; i < (uint64_t)K * N; i++)
		x[i] = gpu_test_uniform(&rng, -1, 1);
	for (uint32_t i = 0; i < M; i++)
		bias[i] = gpu_test_uniform(&rng, -0.5f, 0.5f);
	for (uint64_t i = 0; i < (uint64_t)M * N; i++)
		r[i] = gpu_test_uniform(&rng, -2, 2);

	struct gpu_buffer *wbuf;
	CHECK(gpu_buffer_create(t->dev, GPU_MEM_WEIGHTS, woff + wbytes, "W", &wbuf) == 0);
	CHECK(gpu_staging_write(t->staging, wbuf, woff, w, wbytes) == 0);
	CHECK(gpu_staging_flush(t->staging) == 0);
	struct gpu_tensor W = { wbuf, woff, c->type, { K, M }, 0 };
	struct gpu_tensor X = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, K, N, x);
	struct gpu_tensor B = gpu_test_tensor(t, GPU_MEM_WEIGHTS, TENSOR_F32, M, 1, bias);
	struct gpu_tensor R = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, M, N, r);
	struct gpu_tensor Y = c->in_place ? R
					  : gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, M, N, NULL);
	struct gpu_mul_mat_epilogue ep = {
		.bias = c->bias ? &B : NULL,
		.residual = c->residual || c->in_place ? &R : NULL,
		.act = c->act,
	};

	double t0 = gpu_test_now();
	CHECK(gpu_recorder_begin(t->rec) == 0);
	CHECK(gpu_op_mul_mat_tile(t->rec, "mul_mat", &W, &X, &Y, &ep, g_tile) == 0);
	CHECK(gpu_recorder_submit(t->rec) == 0);
	CHECK(gpu_recorder_wait(t->rec) == 0);
	double t1 = gpu_test_now();
	CHECK(gpu_test_read(t, &Y, y) == 0);

	for (uint32_t m = 0; m < M; m++)
		CHECK(dequantize_row(c->type, w + (uint64_t)m * rb, wf + (uint64_t)m * K, K) == 0);
	for (uint32_t n = 0; n < N; n++) {
		const float *xn = x + (uint64_t)n * K;
		for (uint32_t m = 0; m < M; m++) {
			const float *wm = wf + (uint64_t)m * K;
			double s = 0;
			for (uint32_t k = 0; k < K; k++)
				s += (double)wm[k] * xn[k];
			if (c->bias)
				s += bias[m];
			s = act_ref(c->act, s);
			if (c->residual || c->in_place)
				s += r[(uint64_t)n * M + m];
			ref[(uint64_t)n * M + m] = s;
		}
	}
	double e = gpu_test_nmse(y, ref, (size_t)M * N);
	CHECKF(e < g_bound, "%s K=%u M=%u N=%u bias %d res %d in-place %d act %d tile %d: nmse %.3g",
	       ti->name, K, M, N, c->bias, c->residual, c->in_place, c->act, g_tile, e);
	fprintf(stderr,
		"mul_mat %-4s K=%-5u M=%-5u N=%-5u b%d r%d i%d act%d: nmse %.2e, %u dispatches, "
		"%.1f ms\n", ti->name, K, M, N, c->bias, c->residual, c->in_place, c->act, e,
		gpu_recorder_dispatch_count(t->rec), (t1 - t0) * 1e3);
	gpu_buffer_destroy(wbuf);
	free(w);
	free(wf);
	free(x);
	free(y);
	free(r);
	free(bias);
	free(ref);
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "types";
	bool split = strcmp(what, "split") == 0;
	struct gpu_test t;
	/* split: 256 KiB windows, so a 1024-wide F32 weight is many pieces of
	 * rows and X/Y are cut into pieces of rows too. */
	gpu_test_open(&t, split ? 256u << 10 : 0);
	bool cm = gpu_mul_mat_uses_coopmat(t.rec);
	g_bound = cm ? 2e-5 : 1e-9;
	fprintf(stderr, "kernel: %s, NMSE bound %.0e\n", cm ? "NV cooperative matrix" : "tiled f32",
		g_bound);
	uint64_t seed = 1;
	if (strcmp(what, "types") == 0) {
		static const uint32_t types[] = { TENSOR_F32, TENSOR_F16, TENSOR_BF16, TENSOR_Q8_0,
						  TENSOR_Q4_0, TENSOR_Q6_K };
		/* 1024→1024 (LFM2 attention/conv projections) with 7 and 64 rows. */
		for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
			struct mm_case c = { .type = types[i], .K = 1024, .M = 1024, .N = 64 };
			run_case(&t, &c, seed++);
			c.N = 7;
			run_case(&t, &c, seed++);
		}
		/* F32/F16 rows that are not a multiple of the 32-wide K step
		 * (so400m's ffn_down has K = 4304, 16 past a multiple of 32). */
		struct mm_case odd = { .type = TENSOR_F16, .K = 4304, .M = 100, .N = 9 };
		run_case(&t, &odd, seed++);
		odd.type = TENSOR_F32;
		odd.K = 75;
		run_case(&t, &odd, seed++);
	} else if (strcmp(what, "shapes") == 0) {
		struct mm_case cs[] = {
			{ .type = TENSOR_Q4_0, .K = 1024, .M = 1024, .N = 256 },
			{ .type = TENSOR_Q4_0, .K = 1024, .M = 4608, .N = 161 },
			{ .type = TENSOR_Q6_K, .K = 4608, .M = 1024, .N = 33 },
			{ .type = TENSOR_Q8_0, .K = 768, .M = 3072, .N = 161 },
			{ .type = TENSOR_F16, .K = 3072, .M = 768, .N = 161 },
			{ .type = TENSOR_F16, .K = 768, .M = 3072, .N = 161, .aligned = true },
			{ .type = TENSOR_Q8_0, .K = 768, .M = 200, .N = 161, .aligned = true },
			/* 33 × 8 tiles of 128: the cooperative-matrix kernel's full-width
			 * tile (vk/ops_matmul.c takes it from 264 workgroups); two K
			 * steps, so both shared buffers are used */
			{ .type = TENSOR_F16, .K = 64, .M = 4224, .N = 1024, .aligned = true },
		};
		for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
			run_case(&t, &cs[i], seed++);
	} else if (strcmp(what, "epilogue") == 0) {
		struct mm_case cs[] = {
			{ .type = TENSOR_Q8_0, .K = 768, .M = 768, .N = 37, .bias = true },
			{ .type = TENSOR_Q8_0, .K = 768, .M = 768, .N = 37, .residual = true },
			{ .type = TENSOR_Q8_0, .K = 768, .M = 768, .N = 37, .in_place = true },
			{ .type = TENSOR_Q8_0, .K = 768, .M = 3072, .N = 21, .act = GPU_ACT_GELU_TANH },
			{ .type = TENSOR_Q8_0, .K = 768, .M = 3072, .N = 21, .act = GPU_ACT_GELU_ERF },
			/* the ViT's fused forms: up + bias + GELU-tanh, down + bias + x */
			{ .type = TENSOR_F16, .K = 768, .M = 3072, .N = 21, .bias = true,
			  .act = GPU_ACT_GELU_TANH },
			{ .type = TENSOR_F16, .K = 3072, .M = 768, .N = 21, .bias = true,
			  .in_place = true },
		};
		for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
			run_case(&t, &cs[i], seed++);
		/* shape errors are refused */
		struct gpu_tensor X = gpu_test_tensor(&t, GPU_MEM_SCRATCH, TENSOR_F32, 64, 4, NULL);
		struct gpu_tensor W = gpu_test_tensor(&t, GPU_MEM_SCRATCH, TENSOR_F32, 64, 8, NULL);
		struct gpu_tensor Y = gpu_test_tensor(&t, GPU_MEM_SCRATCH, TENSOR_F32, 8, 4, NULL);
		struct gpu_tensor Bad = gpu_test_tensor(&t, GPU_MEM_SCRATCH, TENSOR_F32, 7, 1, NULL);
		struct gpu_tensor Q = { W.buffer, 0, TENSOR_Q4_1, { 64, 8 }, 0 };
		struct gpu_mul_mat_epilogue ep = { .bias = &Bad };
		CHECK(gpu_recorder_begin(t.rec) == 0);
		CHECK(gpu_op_mul_mat(t.rec, "bad-bias", &W, &X, &Y, &ep) == -EINVAL);
		CHECK(gpu_op_mul_mat(t.rec, "bad-y", &W, &X, &X, NULL) == -EINVAL);
		CHECK(gpu_op_mul_mat(t.rec, "q4_1", &Q, &X, &Y, NULL) == -ENOTSUP);
		CHECK(gpu_op_mul_mat(t.rec, "ok", &W, &X, &Y, NULL) == 0);
		CHECK(gpu_recorder_submit(t.rec) == 0);
		CHECK(gpu_recorder_wait(t.rec) == 0);
	} else if (strcmp(what, "tiles") == 0) {
		if (!cm) {
			fprintf(stderr, "no cooperative matrices here: every tile is the tiled kernel, "
					"which the other groups cover\n");
			gpu_test_close(&t);
			return 77;
		}
		/* prefill rows (271: a partial fragment row), an M that is not a
		 * multiple of 16, the encoder's fused epilogues, K past a multiple
		 * of the 64-wide K step, scalar loads (unaligned W) */
		struct mm_case cs[] = {
			{ .type = TENSOR_Q4_0, .K = 1024, .M = 1000, .N = 271, .aligned = true },
			{ .type = TENSOR_Q4_0, .K = 4608, .M = 1024, .N = 271, .in_place = true,
			  .aligned = true },
			{ .type = TENSOR_Q8_0, .K = 768, .M = 3072, .N = 300, .bias = true,
			  .act = GPU_ACT_GELU_TANH, .aligned = true },
			{ .type = TENSOR_F16, .K = 3072, .M = 768, .N = 130, .bias = true,
			  .in_place = true, .aligned = true },
			{ .type = TENSOR_F16, .K = 800, .M = 200, .N = 77 },
			{ .type = TENSOR_Q6_K, .K = 1024, .M = 520, .N = 33 },
			{ .type = TENSOR_F32, .K = 96, .M = 136, .N = 40, .residual = true },
		};
		for (int tile = GPU_MM_TILE_AUTO + 1; tile < GPU_MM_TILE_COUNT; tile++) {
			g_tile = (enum gpu_mm_tile)tile;
			if (tile > GPU_MM_TILE_AUTO + 1) { /* a fresh harness: it holds 64 buffers */
				CHECK(gpu_test_close(&t) == 0);
				gpu_test_open(&t, 0);
			}
			for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
				run_case(&t, &cs[i], seed++);
		}
	} else if (split) {
		struct mm_case cs[] = {
			{ .type = TENSOR_F32, .K = 1024, .M = 300, .N = 150, .bias = true,
			  .residual = true },
			{ .type = TENSOR_Q4_0, .K = 1024, .M = 4608, .N = 70, .in_place = true },
		};
		for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
			run_case(&t, &cs[i], seed++);
			CHECK(gpu_recorder_dispatch_count(t.rec) > 1);
		}
	} else {
		fprintf(stderr, "unknown group %s\n", what);
		return 2;
	}
	CHECK(gpu_test_close(&t) == 0);
	return check_report();
}
