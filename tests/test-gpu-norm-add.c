/* tests/test-gpu-norm-add.c — rms_norm and add against plain C, on LFM2
 * shapes (hidden 1024, one token and a 1024-patch batch).
 *
 * Also views with padded rows (row_stride), read by rms_norm and
 * mul_mat_vec. Bounds: rms_norm NMSE < 1e-10 (f32 sum of squares vs. a double
 * reference); add NMSE < 1e-14 (one f32 rounding per element, the same on
 * both sides: in practice exact); mul_mat_vec 1e-9 as in its own test.
 */
#include "model/quant.h"
#include "tests/check.h"
#include "tests/gpu-test-util.h"

#include <math.h>
#include <stdlib.h>

static float *random_floats(size_t n, uint64_t *rng, float lo, float hi)
{
	float *v = malloc(n * sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = gpu_test_uniform(rng, lo, hi);
	return v;
}

static void test_rms_norm(struct gpu_test *t, uint32_t K, uint32_t n, bool in_place, uint64_t seed)
{
	uint64_t rng = seed;
	float *x = random_floats((size_t)K * n, &rng, -3, 3);
	float *w = random_floats(K, &rng, 0.5f, 1.5f);
	float *y = malloc((size_t)K * n * sizeof *y);
	double *ref = malloc((size_t)K * n * sizeof *ref);
	const float eps = 1e-5f;
	struct gpu_tensor X = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, K, n, x);
	struct gpu_tensor Wt = gpu_test_tensor(t, GPU_MEM_WEIGHTS, TENSOR_F32, K, 1, w);
	struct gpu_tensor Y = in_place ? X : gpu_test_tensor(t, GPU_MEM_READBACK, TENSOR_F32, K, n, NULL);
	CHECK(gpu_recorder_begin(t->rec) == 0);
	CHECK(gpu_op_rms_norm(t->rec, "model.embedding_norm", &X, &Wt, eps, &Y) == 0);
	CHECK(gpu_recorder_submit(t->rec) == 0);
	CHECK(gpu_recorder_wait(t->rec) == 0);
	CHECK(gpu_test_read(t, &Y, y) == 0);
	for (uint32_t r = 0; r < n; r++) {
		double ss = 0;
		for (uint32_t i = 0; i < K; i++)
			ss += (double)x[(size_t)r * K + i] * x[(size_t)r * K + i];
		double scale = 1.0 / sqrt(ss / K + eps);
		for (uint32_t i = 0; i < K; i++)
			ref[(size_t)r * K + i] = x[(size_t)r * K + i] * scale * w[i];
	}
	double e = gpu_test_nmse(y, ref, (size_t)K * n);
	CHECKF(e < 1e-10, "rms_norm K=%u n=%u in_place=%d: nmse %.3g", K, n, in_place, e);
	fprintf(stderr, "rms_norm K=%u n=%u%s: nmse %.2e\n", K, n, in_place ? " in place" : "", e);
	free(x);
	free(w);
	free(y);
	free(ref);
}

static void test_add(struct gpu_test *t, uint32_t K, uint32_t n, bool broadcast, uint64_t seed)
{
	uint64_t rng = seed;
	uint32_t nb = broadcast ? 1 : n;
	float *a = random_floats((size_t)K * n, &rng, -10, 10);
	float *b = random_floats((size_t)K * nb, &rng, -10, 10);
	float *c = malloc((size_t)K * n * sizeof *c);
	double *ref = malloc((size_t)K * n * sizeof *ref);
	struct gpu_tensor A = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, K, n, a);
	struct gpu_tensor B = gpu_test_tensor(t, GPU_MEM_UPLOAD, TENSOR_F32, K, nb, b);
	struct gpu_tensor C = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, K, n, NULL);
	CHECK(gpu_recorder_begin(t->rec) == 0);
	CHECK(gpu_op_add(t->rec, "residual", &A, &B, &C) == 0);
	CHECK(gpu_recorder_submit(t->rec) == 0);
	CHECK(gpu_recorder_wait(t->rec) == 0);
	CHECK(gpu_test_read(t, &C, c) == 0);
	for (size_t i = 0; i < (size_t)K * n; i++)
		ref[i] = (double)(a[i] + b[broadcast ? i % K : i]); /* f32 add, as the GPU */
	double e = gpu_test_nmse(c, ref, (size_t)K * n);
	CHECKF(e < 1e-14, "add K=%u n=%u broadcast=%d: nmse %.3g", K, n, broadcast, e);
	fprintf(stderr, "add K=%u n=%u%s: nmse %.2e\n", K, n, broadcast ? " broadcast" : "", e);
	free(a);
	free(b);
	free(c);
	free(ref);
}

/* Views: rows padded to a longer stride (e.g. one slice of a fused
 * projection), read by rms_norm and mul_mat_vec through their strides. */
static void test_strided_views(struct gpu_test *t, uint64_t seed)
{
	enum { K = 512, PAD = 96, N = 5, M = 64 };
	uint64_t rng = seed;
	float *x = random_floats((size_t)(K + PAD) * N, &rng, -2, 2);
	float *w = random_floats(K, &rng, 0.5f, 1.5f);
	float *wm = random_floats((size_t)K * M, &rng, -1, 1);
	float y[K * N], z[M * N];
	double ref[K * N], zref[M * N];
	struct gpu_tensor Xs = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, K + PAD, N, x);
	Xs.ne[0] = K;
	Xs.row_stride = (K + PAD) * sizeof(float);
	Xs.offset = PAD / 2 * sizeof(float); /* the middle slice of each row */
	struct gpu_tensor Wt = gpu_test_tensor(t, GPU_MEM_WEIGHTS, TENSOR_F32, K, 1, w);
	struct gpu_tensor Wm = gpu_test_tensor(t, GPU_MEM_WEIGHTS, TENSOR_F32, K, M, wm);
	struct gpu_tensor Y = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, K, N, NULL);
	struct gpu_tensor Z = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, M, N, NULL);
	CHECK(gpu_recorder_begin(t->rec) == 0);
	CHECK(gpu_op_rms_norm(t->rec, "view norm", &Xs, &Wt, 1e-5f, &Y) == 0);
	CHECK(gpu_op_mul_mat_vec(t->rec, "view matvec", &Wm, &Xs, &Z) == 0);
	CHECK(gpu_recorder_submit(t->rec) == 0);
	CHECK(gpu_recorder_wait(t->rec) == 0);
	CHECK(gpu_test_read(t, &Y, y) == 0);
	CHECK(gpu_test_read(t, &Z, z) == 0);
	for (int r = 0; r < N; r++) {
		const float *xr = x + (size_t)r * (K + PAD) + PAD / 2;
		double ss = 0;
		for (int i = 0; i < K; i++)
			ss += (double)xr[i] * xr[i];
		double scale = 1.0 / sqrt(ss / K + 1e-5f);
		for (int i = 0; i < K; i++)
			ref[r * K + i] = xr[i] * scale * w[i];
		for (int m = 0; m < M; m++) {
			double s = 0;
			for (int i = 0; i < K; i++)
				s += (double)wm[(size_t)m * K + i] * xr[i];
			zref[r * M + m] = s;
		}
	}
	double e1 = gpu_test_nmse(y, ref, K * N), e2 = gpu_test_nmse(z, zref, M * N);
	CHECKF(e1 < 1e-10, "strided rms_norm: nmse %.3g", e1);
	CHECKF(e2 < 1e-9, "strided mul_mat_vec: nmse %.3g", e2);
	fprintf(stderr, "strided views: rms_norm nmse %.2e, mul_mat_vec nmse %.2e\n", e1, e2);
	free(x);
	free(w);
	free(wm);
}

int main(void)
{
	struct gpu_test t;
	gpu_test_open(&t, 0);
	test_rms_norm(&t, 1024, 1, false, 11);
	test_rms_norm(&t, 1024, 1024, false, 12);
	test_rms_norm(&t, 1024, 7, true, 13);
	test_rms_norm(&t, 4608, 3, false, 14);
	test_add(&t, 1024, 1, false, 21);
	test_add(&t, 1024, 1024, false, 22);
	test_add(&t, 4608, 5, true, 23);
	test_add(&t, 1000, 3, false, 24); /* a row that is not whole workgroups */
	test_strided_views(&t, 31);
	CHECK(gpu_test_close(&t) == 0);
	return check_report();
}
