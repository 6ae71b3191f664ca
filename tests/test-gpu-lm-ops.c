/* tests/test-gpu-lm-ops.c — the decoder ops of vk/ops_lm.h against plain C,
 * on LFM2-350M shapes (d 1024, 16 heads, 8 KV heads, head_dim 64, ff 4608,
 * vocab 65536) with few tokens and sequences. One group per argument so each
 * meson test stays short: rows, conv, attn, ffn-sample, fused.
 *
 * NMSE bounds (and why):
 *   get_rows / set_rows   1e-12  one f32 dequantization product, as quant.c
 *   shortconv y, state    1e-12  the same f32 products and sums as the reference
 *   rope_qk_norm q        1e-10  f32 sum of squares, GPU pow/sin/cos vs libm
 *   rope_qk_norm K, V     4e-7   the F16 cache against the unrounded f32 reference:
 *                                covers one f16 rounding (RTE ~4e-8, RTZ ~1.6e-7);
 *                         1e-4, 2e-2  Q8_0, Q4_0: the quantization error itself;
 *                                and the blocks equal quantize_row's of the same
 *                                values but for ≤ 1 % of quants one level off
 *   attention             1e-10  f32 online softmax vs a double softmax over the
 *                                same (dequantized F16, Q8_0, Q4_0) cache values,
 *                                keys split over workgroups (flash-decoding) or not
 *   swiglu                1e-12  f32 exp vs double
 *   repetition penalty    1e-12  GPU division may be 2.5 ulp
 *   argmax                exact ids (first maximum wins, planted ties)
 *   mul_mat_vec_fused     1e-9   as mul_mat_vec (f32 sums vs double; the norm
 *                                scale applied after the dot product)
 */
#include "model/quant.h"
#include "tests/check.h"
#include "tests/gpu-test-util.h"
#include "tests/reference/ref-lfm2vl.h"
#include "vk/ops_lm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { D = 1024, NH = 16, NKV = 8, HD = 64, FF = 4608, V = 65536 };

static float *random_floats(size_t n, uint64_t *rng, float lo, float hi)
{
	float *v = malloc(n * sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = gpu_test_uniform(rng, lo, hi);
	return v;
}

/* n int32 values in their own buffer (an F32 tensor of the same bytes). */
static struct gpu_i32s ints(struct gpu_test *t, enum gpu_mem_kind kind, const int32_t *v,
			    uint32_t n)
{
	struct gpu_tensor x = gpu_test_tensor(t, kind, TENSOR_F32, n, 1, v);
	return (struct gpu_i32s){ x.buffer, 0, n };
}

static void read_ints(struct gpu_test *t, const struct gpu_i32s *v, int32_t *dst)
{
	struct gpu_tensor x = { .buffer = v->buffer, .offset = v->offset, .type = TENSOR_F32,
				.ne = { v->n, 1 } };
	CHECK(gpu_test_read(t, &x, dst) == 0);
}

static void run(struct gpu_test *t)
{
	CHECK(gpu_recorder_submit(t->rec) == 0);
	CHECK(gpu_recorder_wait(t->rec) == 0);
}

/* ---------------------------------------------------------------- rows */

/* A table of `type` [D, rows] with random payload bytes and random finite
 * scales (every bit pattern of a quant is a valid weight). */
static void *random_table(uint32_t type, uint32_t rows, uint64_t *rng, uint64_t *row_bytes)
{
	uint64_t rb = 0;
	tensor_row_bytes(type, D, &rb);
	size_t bytes = rb * rows;
	uint8_t *p = malloc(bytes);
	for (size_t i = 0; i < bytes; i += 8) {
		uint64_t r = gpu_test_rand(rng);
		memcpy(p + i, &r, bytes - i < 8 ? bytes - i : 8);
	}
	const struct tensor_type_info *ti = tensor_type_info(type);
	size_t nblocks = bytes / ti->block_bytes;
	for (size_t b = 0; b < nblocks; b++) {
		uint8_t *blk = p + b * ti->block_bytes;
		uint16_t h;
		switch (type) {
		case TENSOR_F16:
			h = f32_to_fp16(gpu_test_uniform(rng, -4, 4));
			memcpy(blk, &h, 2);
			break;
		case TENSOR_F32: {
			float f = gpu_test_uniform(rng, -4, 4);
			memcpy(blk, &f, 4);
			break;
		}
		case TENSOR_Q8_0:
		case TENSOR_Q4_0: /* d first */
			h = f32_to_fp16(gpu_test_uniform(rng, -0.1f, 0.1f));
			memcpy(blk, &h, 2);
			break;
		case TENSOR_Q6_K: /* d last */
			h = f32_to_fp16(gpu_test_uniform(rng, -0.01f, 0.01f));
			memcpy(blk + ti->block_bytes - 2, &h, 2);
			break;
		}
	}
	*row_bytes = rb;
	return p;
}

static void test_get_rows(struct gpu_test *t, uint32_t type, uint32_t rows, uint64_t seed)
{
	uint64_t rng = seed, rb;
	uint8_t *table = random_table(type, rows, &rng, &rb);
	/* ends, repeats, random rows, and two ids outside the table (zeros) */
	int32_t ids[] = { 0, (int32_t)rows - 1, 17, 17, -1, (int32_t)rows, 0, 0, 0, 0 };
	enum { N = sizeof ids / sizeof ids[0] };
	for (int i = 6; i < N; i++)
		ids[i] = (int32_t)(gpu_test_rand(&rng) % rows);
	struct gpu_tensor T = gpu_test_tensor(t, GPU_MEM_WEIGHTS, type, D, rows, table);
	struct gpu_i32s I = ints(t, GPU_MEM_UPLOAD, ids, N);
	struct gpu_tensor Y = gpu_test_tensor(t, GPU_MEM_READBACK, TENSOR_F32, D, N, NULL);
	CHECK(gpu_recorder_begin(t->rec) == 0);
	CHECK(gpu_op_get_rows(t->rec, "model.embed_tokens", &T, &I, &Y) == 0);
	uint32_t dispatches = gpu_recorder_dispatch_count(t->rec);
	run(t);
	float *y = malloc(sizeof(float) * D * N), *row = malloc(sizeof(float) * D);
	double *ref = malloc(sizeof(double) * D * N);
	CHECK(gpu_test_read(t, &Y, y) == 0);
	for (int i = 0; i < N; i++) {
		bool in = ids[i] >= 0 && (uint32_t)ids[i] < rows;
		if (in)
			CHECK(dequantize_row(type, table + rb * (uint32_t)ids[i], row, D) == 0);
		for (int e = 0; e < D; e++)
			ref[i * D + e] = in ? row[e] : 0.0;
	}
	double err = gpu_test_nmse(y, ref, (size_t)D * N);
	const struct tensor_type_info *ti = tensor_type_info(type);
	CHECKF(err < 1e-12, "get_rows %s [%u, %u]: nmse %.3g", ti->name, D, rows, err);
	bool zeros = true;
	for (int e = 0; e < D; e++)
		zeros = zeros && y[4 * D + e] == 0 && y[5 * D + e] == 0;
	CHECK(zeros);
	fprintf(stderr, "get_rows %s [%u, %u]: %u dispatch(es), nmse %.2e\n", ti->name, D, rows,
		dispatches, err);
	free(table);
	free(y);
	free(row);
	free(ref);
}

static void test_set_rows(struct gpu_test *t, uint64_t seed)
{
	enum { N = 5, M = 12 };
	uint64_t rng = seed;
	float *src = random_floats((size_t)D * N, &rng, -1, 1);
	float *dst0 = random_floats((size_t)D * M, &rng, -1, 1);
	int32_t rows[N] = { 3, 4, 11, -1, 7 }; /* -1 is skipped */
	struct gpu_tensor S = gpu_test_tensor(t, GPU_MEM_UPLOAD, TENSOR_F32, D, N, src);
	struct gpu_tensor Dt = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, D, M, dst0);
	struct gpu_i32s R = ints(t, GPU_MEM_UPLOAD, rows, N);
	CHECK(gpu_recorder_begin(t->rec) == 0);
	CHECK(gpu_op_set_rows(t->rec, "image slots", &S, &R, &Dt) == 0);
	run(t);
	float *y = malloc(sizeof(float) * D * M);
	double *ref = malloc(sizeof(double) * D * M);
	CHECK(gpu_test_read(t, &Dt, y) == 0);
	for (size_t i = 0; i < (size_t)D * M; i++)
		ref[i] = dst0[i];
	for (int i = 0; i < N; i++)
		if (rows[i] >= 0)
			for (int e = 0; e < D; e++)
				ref[rows[i] * D + e] = src[i * D + e];
	double err = gpu_test_nmse(y, ref, (size_t)D * M);
	CHECKF(err < 1e-12, "set_rows: nmse %.3g", err);
	fprintf(stderr, "set_rows [%u, %u] into [%u, %u]: nmse %.2e\n", D, N, D, M, err);
	free(src);
	free(dst0);
	free(y);
	free(ref);
}

static void group_rows(void)
{
	struct gpu_test t;
	gpu_test_open(&t, 0);
	test_get_rows(&t, TENSOR_Q4_0, V, 101);
	test_get_rows(&t, TENSOR_Q8_0, V, 102);
	test_get_rows(&t, TENSOR_Q6_K, V, 103);
	test_get_rows(&t, TENSOR_F16, V, 104); /* 128 MiB: two pieces on lavapipe */
	test_get_rows(&t, TENSOR_F32, 4096, 105);
	test_set_rows(&t, 106);
	CHECK(gpu_test_close(&t) == 0);
	/* Binding windows of 1 MiB: an F32 table of 16 MiB in 17 pieces. */
	gpu_test_open(&t, 1u << 20);
	test_get_rows(&t, TENSOR_F32, 4096, 107);
	test_get_rows(&t, TENSOR_Q6_K, 4096, 108);
	CHECK(gpu_test_close(&t) == 0);
}

/* ---------------------------------------------------------------- conv */

struct seq_desc {
	uint32_t slot, n_past, n_tok;
};

/* The batch tables of n sequences, uploaded. */
static struct gpu_lm_batch make_batch(struct gpu_test *t, const struct seq_desc *s, uint32_t n,
				      int32_t **toks_out, int32_t **seqs_out)
{
	uint32_t slot[16], past[16], nt[16], total = 0;
	for (uint32_t j = 0; j < n; j++) {
		slot[j] = s[j].slot;
		past[j] = s[j].n_past;
		nt[j] = s[j].n_tok;
		total += nt[j];
	}
	int32_t *toks = malloc(sizeof(int32_t) * GPU_TOK_FIELDS * total);
	int32_t *seqs = malloc(sizeof(int32_t) * GPU_SEQ_FIELDS * n);
	struct gpu_lm_batch b = { .n_seq = n };
	int ret = gpu_lm_batch_tables(n, slot, past, nt, toks, seqs, &b.max_seq_tok);
	CHECK(ret == (int)total);
	b.n_tok = total;
	b.toks = ints(t, GPU_MEM_UPLOAD, toks, GPU_TOK_FIELDS * total);
	b.seqs = ints(t, GPU_MEM_UPLOAD, seqs, GPU_SEQ_FIELDS * n);
	*toks_out = toks;
	*seqs_out = seqs;
	return b;
}

/* Steps of batches through one layer's conv state, checked after each. */
static void test_shortconv(struct gpu_test *t, const struct seq_desc *s, uint32_t n_seq,
			   uint32_t steps, uint64_t seed)
{
	enum { SLOTS = 6 };
	uint64_t rng = seed;
	float *w = random_floats(3 * D, &rng, -1, 1);
	float *state = random_floats((size_t)2 * D * SLOTS, &rng, -1, 1);
	double *state_ref = malloc(sizeof(double) * 2 * D * SLOTS);
	float *ref_state = malloc(sizeof(float) * 2 * D * SLOTS);
	memcpy(ref_state, state, sizeof(float) * 2 * D * SLOTS);
	struct gpu_tensor W = gpu_test_tensor(t, GPU_MEM_WEIGHTS, TENSOR_F32, 3, D, w);
	struct gpu_tensor S = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, 2 * D, SLOTS, state);
	double worst_y = 0, worst_s = 0;
	for (uint32_t step = 0; step < steps; step++) {
		int32_t *toks, *seqs;
		struct gpu_lm_batch b = make_batch(t, s, n_seq, &toks, &seqs);
		float *z = random_floats((size_t)3 * D * b.n_tok, &rng, -2, 2);
		struct gpu_tensor Z = gpu_test_tensor(t, GPU_MEM_UPLOAD, TENSOR_F32, 3 * D, b.n_tok, z);
		struct gpu_tensor Y = gpu_test_tensor(t, GPU_MEM_READBACK, TENSOR_F32, D, b.n_tok, NULL);
		CHECK(gpu_recorder_begin(t->rec) == 0);
		CHECK(gpu_op_shortconv(t->rec, "model.layers.0.conv", &Z, &W, &S, &b, &Y) == 0);
		run(t);
		float *y = malloc(sizeof(float) * D * b.n_tok);
		double *yref = malloc(sizeof(double) * D * b.n_tok);
		float c[D], sv[D];
		CHECK(gpu_test_read(t, &Y, y) == 0);
		CHECK(gpu_test_read(t, &S, state) == 0);
		for (uint32_t j = 0; j < n_seq; j++)
			for (uint32_t i = 0; i < s[j].n_tok; i++) {
				uint32_t tk = (uint32_t)seqs[GPU_SEQ_FIELDS * j] + i;
				const float *zt = z + (size_t)3 * D * tk;
				for (int ch = 0; ch < D; ch++)
					sv[ch] = zt[ch] * zt[2 * D + ch]; /* s = B ⊙ x */
				ref_shortconv_step(c, ref_state + (size_t)2 * D * s[j].slot, sv, w, D, 3);
				for (int ch = 0; ch < D; ch++)
					yref[(size_t)D * tk + ch] = zt[D + ch] * c[ch];
			}
		for (size_t i = 0; i < (size_t)2 * D * SLOTS; i++)
			state_ref[i] = ref_state[i];
		double ey = gpu_test_nmse(y, yref, (size_t)D * b.n_tok);
		double es = gpu_test_nmse(state, state_ref, (size_t)2 * D * SLOTS);
		worst_y = fmax(worst_y, ey);
		worst_s = fmax(worst_s, es);
		free(z);
		free(y);
		free(yref);
		free(toks);
		free(seqs);
	}
	CHECKF(worst_y < 1e-12 && worst_s < 1e-12, "shortconv: nmse y %.3g state %.3g", worst_y,
	       worst_s);
	fprintf(stderr, "shortconv %u seqs (first %u tokens) x %u steps: nmse y %.2e, state %.2e\n",
		n_seq, s[0].n_tok, steps, worst_y, worst_s);
	free(w);
	free(state);
	free(state_ref);
	free(ref_state);
}

/* A sequence whose slot is out of range is skipped (its rows and every
 * state row stay as they were); the valid sequence beside it gets exactly
 * what it gets alone. */
static void test_shortconv_bad_slot(struct gpu_test *t, uint64_t seed)
{
	enum { SLOTS = 3, N = 5 };
	uint64_t rng = seed;
	float *w = random_floats(3 * D, &rng, -1, 1);
	float *state0 = random_floats((size_t)2 * D * SLOTS, &rng, -1, 1);
	float *z = random_floats((size_t)3 * D * N, &rng, -2, 2);
	float *sentinel = malloc(sizeof(float) * D * N);
	for (size_t i = 0; i < (size_t)D * N; i++)
		sentinel[i] = 7.0f;
	struct gpu_tensor W = gpu_test_tensor(t, GPU_MEM_WEIGHTS, TENSOR_F32, 3, D, w);
	struct gpu_tensor Z = gpu_test_tensor(t, GPU_MEM_UPLOAD, TENSOR_F32, 3 * D, N, z);
	struct gpu_tensor S1 = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, 2 * D, SLOTS, state0);
	struct gpu_tensor S2 = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, 2 * D, SLOTS, state0);
	struct gpu_tensor Y1 = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, D, N, sentinel);
	struct gpu_tensor Y2 = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, D, N, sentinel);
	const struct seq_desc both[] = { { 1, 0, 3 }, { 99, 0, 2 } }, alone[] = { { 1, 0, 3 } };
	int32_t *tk1, *sq1, *tk2, *sq2;
	struct gpu_lm_batch b1 = make_batch(t, both, 2, &tk1, &sq1);
	struct gpu_lm_batch b2 = make_batch(t, alone, 1, &tk2, &sq2);
	b2.n_tok = N; /* the same rows, the last two not in any sequence */
	CHECK(gpu_recorder_begin(t->rec) == 0);
	CHECK(gpu_op_shortconv(t->rec, "bad slot", &Z, &W, &S1, &b1, &Y1) == 0);
	CHECK(gpu_op_shortconv(t->rec, "alone", &Z, &W, &S2, &b2, &Y2) == 0);
	run(t);
	float *y1 = malloc(sizeof(float) * D * N), *y2 = malloc(sizeof(float) * D * N);
	float *s1 = malloc(sizeof(float) * 2 * D * SLOTS), *s2 = malloc(sizeof(float) * 2 * D * SLOTS);
	CHECK(gpu_test_read(t, &Y1, y1) == 0 && gpu_test_read(t, &Y2, y2) == 0);
	CHECK(gpu_test_read(t, &S1, s1) == 0 && gpu_test_read(t, &S2, s2) == 0);
	CHECK(memcmp(y1, y2, sizeof(float) * D * N) == 0); /* rows 3, 4: sentinel in both */
	CHECK(memcmp(y1 + 3 * D, sentinel, sizeof(float) * 2 * D) == 0);
	CHECK(memcmp(s1, s2, sizeof(float) * 2 * D * SLOTS) == 0);
	CHECK(memcmp(s1, state0, sizeof(float) * 2 * D) == 0); /* slot 0 untouched */
	fprintf(stderr, "shortconv: a sequence with slot 99 of %u is skipped\n", SLOTS);
	free(w);
	free(state0);
	free(z);
	free(sentinel);
	free(y1);
	free(y2);
	free(s1);
	free(s2);
	free(tk1);
	free(sq1);
	free(tk2);
	free(sq2);
}

static void group_conv(void)
{
	struct gpu_test t;
	gpu_test_open(&t, 0);
	/* decode: four sequences, one token each, slots out of order, 3 steps */
	const struct seq_desc dec[] = { { 2, 9, 1 }, { 0, 4, 1 }, { 5, 30, 1 }, { 3, 2, 1 } };
	test_shortconv(&t, dec, 4, 3, 201);
	/* prefill: two sequences of 7 and 5 tokens, then a decode step each */
	const struct seq_desc pre[] = { { 1, 0, 7 }, { 4, 0, 5 } };
	test_shortconv(&t, pre, 2, 2, 202);
	/* one sequence, a long window (the daemon's prompt chunk) */
	const struct seq_desc one[] = { { 0, 0, 64 } };
	test_shortconv(&t, one, 1, 1, 203);
	test_shortconv_bad_slot(&t, 204);
	CHECK(gpu_test_close(&t) == 0);
}

/* ---------------------------------------------------------------- attn */

static uint16_t *random_halves(size_t n, uint64_t *rng, float lo, float hi)
{
	uint16_t *v = malloc(n * sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = f32_to_fp16(gpu_test_uniform(rng, lo, hi));
	return v;
}

/* A cache of `type` [NK, rows] holding random values in [-1, 1], quantized
 * as model/quant.c does (the layout the kernels read); *deq gets what the
 * cache holds, dequantized. */
static void *random_cache(uint32_t type, uint32_t nk, uint32_t rows, uint64_t *rng, float **deq)
{
	uint64_t rb = 0;
	tensor_row_bytes(type, nk, &rb);
	uint8_t *c = malloc(rb * rows);
	float *x = random_floats((size_t)nk * rows, rng, -1, 1);
	*deq = malloc(sizeof(float) * nk * rows);
	for (uint32_t r = 0; r < rows; r++) {
		CHECK(quantize_row(type, x + (size_t)r * nk, c + rb * r, nk) == 0);
		CHECK(dequantize_row(type, c + rb * r, *deq + (size_t)r * nk, nk) == 0);
	}
	free(x);
	return c;
}

/* GPU blocks against model/quant.c's quantize_row of the reference values:
 * the scales within one f16 step (GPU division may be 2.5 ulp and its f16
 * rounding mode is the driver's), every quant within one level, and all but
 * a few identical (a value within an ulp of a rounding boundary). Counts
 * the quants compared and those off by one. */
static void compare_blocks(uint32_t type, const uint8_t *gpu, const uint8_t *ref, uint32_t nk,
			   uint64_t *n, uint64_t *off)
{
	const struct tensor_type_info *ti = tensor_type_info(type);
	for (uint32_t blk = 0; blk < nk / 32; blk++) {
		const uint8_t *g = gpu + (size_t)blk * ti->block_bytes, *r = ref + (size_t)blk * ti->block_bytes;
		uint16_t dg, dr;
		memcpy(&dg, g, 2);
		memcpy(&dr, r, 2);
		CHECKF(abs((int)dg - (int)dr) <= 1, "%s block %u: d %#x, reference %#x", ti->name, blk, dg, dr);
		for (int e = 0; e < 32; e++) {
			int qg, qr;
			if (type == TENSOR_Q8_0) {
				qg = (int8_t)g[2 + e];
				qr = (int8_t)r[2 + e];
			} else {
				qg = e < 16 ? g[2 + e] & 15 : g[2 + e - 16] >> 4;
				qr = e < 16 ? r[2 + e] & 15 : r[2 + e - 16] >> 4;
			}
			CHECKF(abs(qg - qr) <= 1, "%s block %u element %d: %d, reference %d", ti->name, blk, e, qg, qr);
			(*n)++;
			*off += qg != qr;
		}
	}
}

static void test_rope_qk_norm(struct gpu_test *t, uint32_t kv_type, uint64_t seed)
{
	enum { N_CTX = 64, SLOTS = 3, ROWS = N_CTX * SLOTS, NQ = NH * HD, NK = NKV * HD };
	const float eps = 1e-5f, theta = 1e6f;
	uint64_t rng = seed;
	const struct seq_desc sd[] = { { 1, 37, 3 }, { 0, 0, 4 }, { 2, 60, 4 } };
	int32_t *toks, *seqs;
	struct gpu_lm_batch b = make_batch(t, sd, 3, &toks, &seqs);
	uint32_t n = b.n_tok;
	uint64_t rb = 0;
	tensor_row_bytes(kv_type, NK, &rb);
	/* q and k as views of one fused [q | k | v] projection */
	float *qkv = random_floats((size_t)(NQ + 2 * NK) * n, &rng, -3, 3);
	float *qn = random_floats(HD, &rng, 0.5f, 1.5f), *kn = random_floats(HD, &rng, 0.5f, 1.5f);
	float *kd0, *vd0;
	uint8_t *kc0 = random_cache(kv_type, NK, ROWS, &rng, &kd0);
	uint8_t *vc0 = random_cache(kv_type, NK, ROWS, &rng, &vd0);
	struct gpu_tensor QKV = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, NQ + 2 * NK, n, qkv);
	uint64_t rs = (uint64_t)(NQ + 2 * NK) * 4;
	struct gpu_tensor Q = QKV, K = QKV, Vt = QKV;
	Q.ne[0] = NQ, Q.row_stride = rs;
	K.ne[0] = NK, K.row_stride = rs, K.offset = (uint64_t)NQ * 4;
	Vt.ne[0] = NK, Vt.row_stride = rs, Vt.offset = (uint64_t)(NQ + NK) * 4;
	struct gpu_tensor QN = gpu_test_tensor(t, GPU_MEM_WEIGHTS, TENSOR_F32, HD, 1, qn);
	struct gpu_tensor KN = gpu_test_tensor(t, GPU_MEM_WEIGHTS, TENSOR_F32, HD, 1, kn);
	struct gpu_kv_cache kv = {
		.k = gpu_test_tensor(t, GPU_MEM_SCRATCH, kv_type, NK, ROWS, kc0),
		.v = gpu_test_tensor(t, GPU_MEM_SCRATCH, kv_type, NK, ROWS, vc0),
		.n_ctx = N_CTX,
	};
	struct gpu_rope_params p = { HD, eps, theta };
	CHECK(gpu_recorder_begin(t->rec) == 0);
	CHECK(gpu_op_rope_qk_norm(t->rec, "model.layers.2.self_attn", &Q, &K, &Vt, &QN, &KN, &b, &kv,
				  &p) == 0);
	run(t);
	float *qkv_out = malloc(sizeof(float) * (NQ + 2 * NK) * n);
	uint8_t *kc = malloc(rb * ROWS), *vc = malloc(rb * ROWS), *refq = malloc(rb);
	CHECK(gpu_test_read(t, &QKV, qkv_out) == 0);
	CHECK(gpu_test_read(t, &kv.k, kc) == 0);
	CHECK(gpu_test_read(t, &kv.v, vc) == 0);
	float *qg = malloc(sizeof(float) * NQ * n), *kg = malloc(sizeof(float) * NK * n);
	float *vg = malloc(sizeof(float) * NK * n), *kr32 = malloc(sizeof(float) * NK);
	double *qr = malloc(sizeof(double) * NQ * n), *kr = malloc(sizeof(double) * NK * n);
	double *vr = malloc(sizeof(double) * NK * n);
	bool untouched = true;
	uint64_t n_q = 0, n_off = 0;
	float x[HD];
	for (uint32_t tk = 0; tk < n; tk++) {
		const float *in = qkv + (size_t)(NQ + 2 * NK) * tk;
		uint32_t pos = (uint32_t)toks[2 * tk], slot = (uint32_t)toks[2 * tk + 1];
		size_t crow = (size_t)slot * N_CTX + pos;
		for (int h = 0; h < NH + NKV; h++) {
			bool is_q = h < NH;
			const float *src = is_q ? in + h * HD : in + NQ + (h - NH) * HD;
			ref_rmsnorm(x, src, is_q ? qn : kn, HD, eps);
			ref_rope_neox(x, HD, pos, theta);
			for (int e = 0; e < HD; e++) {
				if (is_q) {
					qr[(size_t)NQ * tk + h * HD + e] = x[e];
					qg[(size_t)NQ * tk + h * HD + e] =
						qkv_out[(size_t)(NQ + 2 * NK) * tk + h * HD + e];
				} else {
					kr[(size_t)NK * tk + (h - NH) * HD + e] = x[e];
					kr32[(h - NH) * HD + e] = x[e];
				}
			}
		}
		CHECK(dequantize_row(kv_type, kc + rb * crow, kg + (size_t)NK * tk, NK) == 0);
		CHECK(dequantize_row(kv_type, vc + rb * crow, vg + (size_t)NK * tk, NK) == 0);
		for (int e = 0; e < NK; e++)
			vr[(size_t)NK * tk + e] = in[NQ + NK + e];
		if (kv_type != TENSOR_F16) { /* the blocks quantize_row makes of the same values */
			CHECK(quantize_row(kv_type, kr32, refq, NK) == 0);
			compare_blocks(kv_type, kc + rb * crow, refq, NK, &n_q, &n_off);
			CHECK(quantize_row(kv_type, in + NQ + NK, refq, NK) == 0);
			compare_blocks(kv_type, vc + rb * crow, refq, NK, &n_q, &n_off);
		}
	}
	/* Every cache row no token of the batch owns is as it was. */
	for (uint32_t r = 0; r < ROWS; r++) {
		bool owned = false;
		for (uint32_t tk = 0; tk < n; tk++)
			owned = owned || (uint32_t)(toks[2 * tk + 1] * N_CTX + toks[2 * tk]) == r;
		if (!owned)
			untouched = untouched && !memcmp(kc + rb * r, kc0 + rb * r, rb) &&
				    !memcmp(vc + rb * r, vc0 + rb * r, rb);
	}
	/* k and v inputs are read only */
	for (uint32_t tk = 0; tk < n; tk++)
		untouched = untouched && !memcmp(qkv + (size_t)(NQ + 2 * NK) * tk + NQ,
						 qkv_out + (size_t)(NQ + 2 * NK) * tk + NQ,
						 sizeof(float) * 2 * NK);
	/* The cache against the unrounded values: one rounding of each value,
	 * F16 4e-7 (RTE ~4e-8, RTZ ~1.6e-7); Q8_0 and Q4_0 the quantization
	 * error of quantize_row itself (lavapipe: K 2.3e-5 and 5.9e-3, V
	 * 1.4e-5 and 4.1e-3 on these values), bounded at 1e-4 and 2e-2. */
	double bound = kv_type == TENSOR_F16 ? 4e-7 : kv_type == TENSOR_Q8_0 ? 1e-4 : 2e-2;
	double eq = gpu_test_nmse(qg, qr, (size_t)NQ * n), ek = gpu_test_nmse(kg, kr, (size_t)NK * n);
	double ev = gpu_test_nmse(vg, vr, (size_t)NK * n);
	const char *tn = tensor_type_info(kv_type)->name;
	CHECKF(eq < 1e-10, "rope_qk_norm q: nmse %.3g", eq);
	CHECKF(ek < bound && ev < bound, "rope_qk_norm %s cache: nmse k %.3g v %.3g", tn, ek, ev);
	CHECKF(n_off * 100 <= n_q, "rope_qk_norm %s: %llu of %llu quants one level off", tn,
	       (unsigned long long)n_off, (unsigned long long)n_q);
	CHECK(untouched);
	fprintf(stderr, "rope_qk_norm %s %u tokens: nmse q %.2e, K cache %.2e, V cache %.2e; "
		"%llu of %llu quants differ from quantize_row by one level\n", tn, n, eq, ek, ev,
		(unsigned long long)n_off, (unsigned long long)n_q);
	free(toks);
	free(seqs);
	free(qkv);
	free(qn);
	free(kn);
	free(kc0);
	free(vc0);
	free(kd0);
	free(vd0);
	free(qkv_out);
	free(kc);
	free(vc);
	free(refq);
	free(qg);
	free(kg);
	free(vg);
	free(kr32);
	free(qr);
	free(kr);
	free(vr);
}

/* Attention of every token of the batch over its slot's cache rows, in
 * double, from the same (dequantized) cache values. part_floats > 0 gives
 * the op room to split the keys (flash-decoding). */
static void test_attention(struct gpu_test *t, uint32_t kv_type, const struct seq_desc *sd,
			   uint32_t n_seq, uint32_t n_ctx, uint32_t slots, float q_scale, bool in_place,
			   uint32_t part_floats, uint64_t seed)
{
	enum { NQ = NH * HD, NK = NKV * HD };
	uint64_t rng = seed;
	int32_t *toks, *seqs;
	struct gpu_lm_batch b = make_batch(t, sd, n_seq, &toks, &seqs);
	uint32_t n = b.n_tok, rows = n_ctx * slots;
	for (uint32_t j = 0; j < n_seq; j++)
		if (sd[j].n_past + sd[j].n_tok > b.max_keys)
			b.max_keys = sd[j].n_past + sd[j].n_tok;
	float *q = random_floats((size_t)NQ * n, &rng, -q_scale, q_scale);
	float *kf, *vf;
	void *kc = random_cache(kv_type, NK, rows, &rng, &kf);
	void *vc = random_cache(kv_type, NK, rows, &rng, &vf);
	struct gpu_tensor Q = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, NQ, n, q);
	struct gpu_tensor O = in_place ? Q : gpu_test_tensor(t, GPU_MEM_READBACK, TENSOR_F32, NQ, n, NULL);
	struct gpu_kv_cache kv = {
		.k = gpu_test_tensor(t, GPU_MEM_SCRATCH, kv_type, NK, rows, kc),
		.v = gpu_test_tensor(t, GPU_MEM_SCRATCH, kv_type, NK, rows, vc),
		.n_ctx = n_ctx,
	};
	if (part_floats)
		kv.part = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, part_floats, 1, NULL);
	CHECK(gpu_recorder_begin(t->rec) == 0);
	CHECK(gpu_op_attention(t->rec, "model.layers.2.self_attn", &Q, &kv, &b, HD, &O) == 0);
	uint32_t dispatches = gpu_recorder_dispatch_count(t->rec);
	run(t);
	float *o = malloc(sizeof(float) * NQ * n);
	double *ref = malloc(sizeof(double) * NQ * n);
	double *sc = malloc(sizeof(double) * n_ctx);
	CHECK(gpu_test_read(t, &O, o) == 0);
	uint32_t max_keys = 0;
	for (uint32_t j = 0; j < n_seq; j++)
		for (uint32_t i = 0; i < sd[j].n_tok; i++) {
			uint32_t tk = (uint32_t)seqs[GPU_SEQ_FIELDS * j] + i;
			uint32_t n_keys = sd[j].n_past + i + 1;
			max_keys = n_keys > max_keys ? n_keys : max_keys;
			size_t row0 = (size_t)sd[j].slot * n_ctx;
			for (int h = 0; h < NH; h++) {
				int g = h / (NH / NKV);
				const float *qh = q + (size_t)NQ * tk + h * HD;
				double mx = -INFINITY, sum = 0;
				for (uint32_t k = 0; k < n_keys; k++) {
					const float *kr = kf + (row0 + k) * NK + g * HD;
					double s = 0;
					for (int e = 0; e < HD; e++)
						s += (double)qh[e] * kr[e];
					sc[k] = s / sqrt((double)HD);
					mx = fmax(mx, sc[k]);
				}
				for (uint32_t k = 0; k < n_keys; k++)
					sum += sc[k] = exp(sc[k] - mx);
				for (int e = 0; e < HD; e++) {
					double acc = 0;
					for (uint32_t k = 0; k < n_keys; k++)
						acc += sc[k] * vf[(row0 + k) * NK + g * HD + e];
					ref[(size_t)NQ * tk + h * HD + e] = acc / sum;
				}
			}
		}
	const char *tn = tensor_type_info(kv_type)->name;
	double err = gpu_test_nmse(o, ref, (size_t)NQ * n);
	CHECKF(err < 1e-10, "attention %s (%u seqs, q scale %g): nmse %.3g", tn, n_seq,
	       (double)q_scale, err);
	fprintf(stderr, "attention %s %u seqs, %u tokens, up to %u keys, q scale %g%s, %u dispatch%s: "
		"nmse %.2e\n", tn, n_seq, n, max_keys, (double)q_scale, in_place ? ", in place" : "",
		dispatches, dispatches > 1 ? "es (split, merge)" : "", err);
	free(toks);
	free(seqs);
	free(q);
	free(kc);
	free(vc);
	free(kf);
	free(vf);
	free(o);
	free(ref);
	free(sc);
}

/* Sequences past the cache (n_past + n_tok > n_ctx) or with a slot out of
 * range are skipped: their rows of out stay as they were, and the valid
 * sequence gets exactly what it gets alone. split: decode rows over a long
 * cache, so both passes of the split attention (pieces, merge) run. */
static void test_attention_bad_entries(struct gpu_test *t, bool split, uint64_t seed)
{
	enum { NQ = NH * HD, NK = NKV * HD, SLOTS = 2 };
	const uint32_t n_ctx = split ? 1024 : 32, per = split ? 1 : 2, N = 3 * per;
	uint64_t rng = seed;
	float *q = random_floats((size_t)NQ * N, &rng, -2, 2);
	uint16_t *kc = random_halves((size_t)NK * n_ctx * SLOTS, &rng, -1, 1);
	uint16_t *vc = random_halves((size_t)NK * n_ctx * SLOTS, &rng, -1, 1);
	float *sentinel = malloc(sizeof(float) * NQ * N);
	for (size_t i = 0; i < (size_t)NQ * N; i++)
		sentinel[i] = 7.0f;
	struct gpu_tensor Q = gpu_test_tensor(t, GPU_MEM_UPLOAD, TENSOR_F32, NQ, N, q);
	struct gpu_tensor O1 = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, NQ, N, sentinel);
	struct gpu_tensor O2 = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, NQ, N, sentinel);
	struct gpu_kv_cache kv = {
		.k = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F16, NK, n_ctx * SLOTS, kc),
		.v = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F16, NK, n_ctx * SLOTS, vc),
		.n_ctx = n_ctx,
	};
	if (split)
		kv.part = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, N * NH * 16 * (HD + 2), 1, NULL);
	const uint32_t valid_past = split ? 700 : 10;
	const struct seq_desc bad[] = { { 0, n_ctx - per + 1, per }, { 1, valid_past, per }, { 5, 0, per } };
	const struct seq_desc alone[] = { { 0, 0, per }, { 1, valid_past, per } };
	int32_t *tk1, *sq1, *tk2, *sq2;
	struct gpu_lm_batch b1 = make_batch(t, bad, 3, &tk1, &sq1);
	struct gpu_lm_batch b2 = make_batch(t, alone, 2, &tk2, &sq2);
	b2.n_tok = N;
	CHECK(gpu_recorder_begin(t->rec) == 0);
	CHECK(gpu_op_attention(t->rec, "bad entries", &Q, &kv, &b1, HD, &O1) == 0);
	uint32_t dispatches = gpu_recorder_dispatch_count(t->rec);
	CHECK(gpu_op_attention(t->rec, "valid one", &Q, &kv, &b2, HD, &O2) == 0);
	CHECK(gpu_recorder_dispatch_count(t->rec) == 2 * dispatches && dispatches == (split ? 2u : 1u));
	run(t);
	float *o1 = malloc(sizeof(float) * NQ * N), *o2 = malloc(sizeof(float) * NQ * N);
	CHECK(gpu_test_read(t, &O1, o1) == 0 && gpu_test_read(t, &O2, o2) == 0);
	/* first sequence's rows: past the cache; second's: valid; third's: slot 5 of 2 */
	size_t rows = (size_t)NQ * per;
	CHECK(memcmp(o1, sentinel, sizeof(float) * rows) == 0);
	CHECK(memcmp(o1 + 2 * rows, sentinel, sizeof(float) * rows) == 0);
	CHECK(memcmp(o1 + rows, o2 + rows, sizeof(float) * rows) == 0);
	CHECK(memcmp(o1 + rows, sentinel, sizeof(float) * rows) != 0);
	fprintf(stderr, "attention%s: sequences past the cache or the slots are skipped\n",
		split ? " (split over workgroups, merged)" : "");
	free(q);
	free(kc);
	free(vc);
	free(sentinel);
	free(o1);
	free(o2);
	free(tk1);
	free(sq1);
	free(tk2);
	free(sq2);
}

static void group_attn(void)
{
	struct gpu_test t;
	static const uint32_t types[] = { TENSOR_F16, TENSOR_Q8_0, TENSOR_Q4_0 };
	for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
		uint32_t ty = types[ti];
		gpu_test_open(&t, 0); /* one per type: the tests' buffers are many */
		test_rope_qk_norm(&t, ty, 301);
		/* decode: four sequences of different lengths (1 .. 301 keys) */
		const struct seq_desc dec[] = { { 3, 0, 1 }, { 0, 5, 1 }, { 2, 40, 1 }, { 1, 300, 1 } };
		test_attention(&t, ty, dec, 4, 320, 4, 2.0f, false, 0, 302);
		/* prefill: causal over new tokens plus what the cache holds */
		const struct seq_desc pre[] = { { 1, 0, 9 }, { 0, 30, 6 } };
		test_attention(&t, ty, pre, 2, 64, 2, 2.0f, false, 0, 303);
		test_attention(&t, ty, pre, 2, 64, 2, 2.0f, true, 0, 305);
		/* scores near ±1000: a naive exp would overflow */
		const struct seq_desc big[] = { { 0, 70, 2 } };
		test_attention(&t, ty, big, 1, 128, 1, 300.0f, false, 0, 304);
		/* decode with long contexts, keys split over workgroups and merged
		 * (flash-decoding): pieces of 250 keys, the shorter sequence's last
		 * pieces empty; in place too, and the same batch with no room to split */
		CHECK(gpu_test_close(&t) == 0);
		gpu_test_open(&t, 0);
		const struct seq_desc lng[] = { { 1, 699, 1 }, { 0, 1499, 1 } };
		const uint32_t room = 2 * NH * 16 * (HD + 2);
		test_attention(&t, ty, lng, 2, 1600, 2, 2.0f, false, room, 307);
		test_attention(&t, ty, lng, 2, 1600, 2, 2.0f, true, room, 308);
		test_attention(&t, ty, lng, 2, 1600, 2, 2.0f, false, 0, 307);
		const struct seq_desc one[] = { { 0, 1023, 1 } };
		test_attention(&t, ty, one, 1, 1024, 1, 300.0f, false, room, 309);
		CHECK(gpu_test_close(&t) == 0);
	}
	gpu_test_open(&t, 0);
	test_attention_bad_entries(&t, false, 306);
	test_attention_bad_entries(&t, true, 310);
	CHECK(gpu_test_close(&t) == 0);
}

/* ---------------------------------------------------------- ffn, sample */

static void test_swiglu(struct gpu_test *t, uint32_t n, bool fused, bool in_place, uint64_t seed)
{
	uint64_t rng = seed;
	/* fused: one [2F, n] projection, gate = first half, up = second */
	float *gu = random_floats((size_t)2 * FF * n, &rng, -8, 8);
	struct gpu_tensor G, U;
	if (fused) {
		struct gpu_tensor GU = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, 2 * FF, n, gu);
		G = U = GU;
		G.ne[0] = U.ne[0] = FF;
		G.row_stride = U.row_stride = (uint64_t)2 * FF * 4;
		U.offset = (uint64_t)FF * 4;
	} else {
		float *g = malloc(sizeof(float) * FF * n), *u = malloc(sizeof(float) * FF * n);
		for (uint32_t r = 0; r < n; r++) {
			memcpy(g + (size_t)FF * r, gu + (size_t)2 * FF * r, sizeof(float) * FF);
			memcpy(u + (size_t)FF * r, gu + (size_t)2 * FF * r + FF, sizeof(float) * FF);
		}
		G = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, FF, n, g);
		U = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, FF, n, u);
		free(g);
		free(u);
	}
	struct gpu_tensor Y = in_place ? G : gpu_test_tensor(t, GPU_MEM_READBACK, TENSOR_F32, FF, n, NULL);
	CHECK(gpu_recorder_begin(t->rec) == 0);
	CHECK(gpu_op_swiglu(t->rec, "model.layers.0.feed_forward", &G, &U, &Y) == 0);
	run(t);
	float *y = malloc(sizeof(float) * FF * n), *row = malloc(gpu_tensor_bytes(&Y));
	double *ref = malloc(sizeof(double) * FF * n);
	CHECK(gpu_test_read(t, &Y, row) == 0);
	uint64_t ys = Y.row_stride ? Y.row_stride / 4 : FF;
	for (uint32_t r = 0; r < n; r++)
		for (int i = 0; i < FF; i++) {
			double a = gu[(size_t)2 * FF * r + i], u = gu[(size_t)2 * FF * r + FF + i];
			ref[(size_t)FF * r + i] = a / (1 + exp(-a)) * u;
			y[(size_t)FF * r + i] = row[ys * r + i];
		}
	double err = gpu_test_nmse(y, ref, (size_t)FF * n);
	CHECKF(err < 1e-12, "swiglu n=%u fused=%d in_place=%d: nmse %.3g", n, fused, in_place, err);
	fprintf(stderr, "swiglu [%u, %u]%s%s: nmse %.2e\n", FF, n, fused ? " fused gate|up" : "",
		in_place ? " in place" : "", err);
	free(gu);
	free(y);
	free(row);
	free(ref);
}

/* Repetition penalty then argmax in one recording, as a decode step ends. */
static void test_sample(struct gpu_test *t, uint64_t seed)
{
	enum { NS = 5, WORDS = V / 32 };
	const float r = 1.05f;
	uint64_t rng = seed;
	float *z = random_floats((size_t)V * NS, &rng, -10, 10);
	/* Planted maxima: row 0 a tie at 1000 and 60000 (first wins), row 1 at
	 * the last id, row 2 at id 0, row 3 all equal, row 4: the maximum is a
	 * penalized token and loses to a close second. */
	z[1000] = z[60000] = 50;
	z[(size_t)V + V - 1] = 50;
	z[(size_t)2 * V] = 50;
	for (int i = 0; i < V; i++)
		z[(size_t)3 * V + i] = -1.5f;
	z[(size_t)4 * V + 123] = 50, z[(size_t)4 * V + 456] = 49;
	uint32_t *bits = calloc((size_t)WORDS * NS, 4);
	for (int j = 0; j < NS; j++)
		for (int k = 0; k < 700; k++) {
			uint32_t v = (uint32_t)(gpu_test_rand(&rng) % V);
			if (!(j == 0 && (v == 1000 || v == 60000)))
				bits[(size_t)WORDS * j + v / 32] |= 1u << (v % 32);
		}
	bits[(size_t)WORDS * 4 + 123 / 32] |= 1u << (123 % 32);
	bits[(size_t)WORDS * 4 + 456 / 32] &= ~(1u << (456 % 32));
	bits[(size_t)WORDS * 3 + 0] |= 1u; /* id 0 of the flat row: −1.5·r, not a max */
	struct gpu_tensor Z = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, V, NS, z);
	struct gpu_i32s B = ints(t, GPU_MEM_UPLOAD, (const int32_t *)bits, WORDS * NS);
	int32_t zero[NS] = { 0 };
	struct gpu_i32s I = ints(t, GPU_MEM_READBACK, zero, NS);
	CHECK(gpu_recorder_begin(t->rec) == 0);
	CHECK(gpu_op_repetition_penalty(t->rec, "sampler.repetition_penalty", &Z, &B, r) == 0);
	CHECK(gpu_op_argmax(t->rec, "sampler.argmax", &Z, &I) == 0);
	run(t);
	float *zg = malloc(sizeof(float) * V * NS);
	double *ref = malloc(sizeof(double) * V * NS);
	int32_t ids[NS];
	CHECK(gpu_test_read(t, &Z, zg) == 0);
	read_ints(t, &I, ids);
	int32_t want[NS];
	for (int j = 0; j < NS; j++) {
		float best = -INFINITY;
		want[j] = -1;
		for (int v = 0; v < V; v++) {
			size_t k = (size_t)V * j + v;
			float x = z[k];
			if ((bits[(size_t)WORDS * j + v / 32] >> (v % 32)) & 1)
				x = x < 0 ? x * r : x / r;
			ref[k] = x;
			if (x > best) {
				best = x;
				want[j] = v;
			}
		}
	}
	double err = gpu_test_nmse(zg, ref, (size_t)V * NS);
	CHECKF(err < 1e-12, "repetition penalty: nmse %.3g", err);
	for (int j = 0; j < NS; j++)
		CHECKF(ids[j] == want[j], "argmax row %d: %d, want %d", j, ids[j], want[j]);
	CHECK(want[0] == 1000 && want[1] == V - 1 && want[2] == 0 && want[3] == 1 && want[4] == 456);
	fprintf(stderr, "repetition penalty [%u, %u]: nmse %.2e; argmax ids %d %d %d %d %d\n", V, NS,
		err, ids[0], ids[1], ids[2], ids[3], ids[4]);
	free(z);
	free(bits);
	free(zg);
	free(ref);
}

/* argmax on rows that are not vec4-aligned (the scalar path of sample.comp)
 * and on rows whose stride is but whose length is not (vec4 path, then a
 * scalar tail): planted maxima in the tail, a tie (first wins), at id 0,
 * and a flat row. */
static void test_argmax_shapes(struct gpu_test *t, uint32_t n_vocab, uint32_t stride, uint64_t seed)
{
	enum { NS = 4 };
	uint64_t rng = seed;
	float *z = random_floats((size_t)stride * NS, &rng, -10, 10);
	z[n_vocab - 1] = 50;                              /* row 0: the last id */
	z[(size_t)stride + 3] = z[(size_t)stride + n_vocab - 2] = 50; /* row 1: tie */
	z[(size_t)2 * stride] = 50;                       /* row 2: id 0 */
	for (uint32_t i = 0; i < stride; i++)
		z[(size_t)3 * stride + i] = 2.5f;         /* row 3: flat */
	struct gpu_tensor Z = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, stride, NS, z);
	Z.ne[0] = n_vocab;
	Z.row_stride = (uint64_t)stride * 4;
	int32_t zero[NS] = { 0 }, ids[NS];
	struct gpu_i32s I = ints(t, GPU_MEM_READBACK, zero, NS);
	CHECK(gpu_recorder_begin(t->rec) == 0);
	CHECK(gpu_op_argmax(t->rec, "sampler.argmax", &Z, &I) == 0);
	run(t);
	read_ints(t, &I, ids);
	for (int j = 0; j < NS; j++) {
		int32_t want = 0;
		for (uint32_t v = 1; v < n_vocab; v++)
			if (z[(size_t)stride * j + v] > z[(size_t)stride * j + (uint32_t)want])
				want = (int32_t)v;
		CHECKF(ids[j] == want, "argmax [%u of %u] row %d: %d, want %d", n_vocab, stride, j,
		       ids[j], want);
	}
	fprintf(stderr, "argmax [%u, %d] (row stride %u): ids %d %d %d %d\n", n_vocab, NS, stride,
		ids[0], ids[1], ids[2], ids[3]);
	free(z);
}

static void group_ffn_sample(void)
{
	struct gpu_test t;
	gpu_test_open(&t, 0);
	test_swiglu(&t, 1, false, false, 401);
	test_swiglu(&t, 3, true, false, 402);
	test_swiglu(&t, 2, true, true, 403);
	test_swiglu(&t, 5, false, true, 404);
	test_sample(&t, 405);
	test_argmax_shapes(&t, 1003, 1003, 406); /* scalar loads */
	test_argmax_shapes(&t, 1001, 1004, 407); /* vec4 loads, 1 tail element */
	test_argmax_shapes(&t, 40003, 40004, 408);
	CHECK(gpu_test_close(&t) == 0);
}

/* ---------------------------------------------------------------- fused */

/* A random [K, M] weight of `type` (quantized from uniform floats), and its
 * dequantized floats for the reference. */
static struct gpu_tensor random_weight(struct gpu_test *t, uint32_t type, uint32_t K, uint32_t M,
				       uint64_t *rng, float **deq)
{
	uint64_t rb = 0;
	CHECK(tensor_row_bytes(type, K, &rb) == 0);
	float *src = random_floats((size_t)K * M, rng, -1, 1);
	uint8_t *q = malloc(rb * M);
	*deq = malloc(sizeof(float) * K * M);
	bool ok = true;
	for (uint32_t r = 0; r < M; r++)
		ok = ok && quantize_row(type, src + (size_t)K * r, q + rb * r, K) == 0 &&
		     dequantize_row(type, q + rb * r, *deq + (size_t)K * r, K) == 0;
	CHECK(ok);
	struct gpu_tensor w = gpu_test_tensor(t, GPU_MEM_WEIGHTS, type, K, M, q);
	free(src);
	free(q);
	return w;
}

enum { F_NORM = 1, F_GLU = 2, F_ADD = 4, F_IN_PLACE = 8 };

static void test_fused(struct gpu_test *t, uint32_t type, uint32_t K, uint32_t M, uint32_t n,
		       unsigned flags, uint64_t seed)
{
	uint64_t rng = seed;
	const float eps = 1e-5f;
	float *wd, *ud = NULL;
	struct gpu_tensor W = random_weight(t, type, K, M, &rng, &wd), U;
	if (flags & F_GLU)
		U = random_weight(t, type, K, M, &rng, &ud);
	float *x = random_floats((size_t)K * n, &rng, -2, 2);
	float *nw = random_floats(K, &rng, 0.5f, 1.5f);
	float *res = random_floats((size_t)M * n, &rng, -3, 3);
	struct gpu_tensor X = gpu_test_tensor(t, GPU_MEM_UPLOAD, TENSOR_F32, K, n, x);
	struct gpu_tensor NW = gpu_test_tensor(t, GPU_MEM_WEIGHTS, TENSOR_F32, K, 1, nw);
	struct gpu_tensor R = gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, M, n, res);
	struct gpu_tensor Y = (flags & F_IN_PLACE) ? R
						   : gpu_test_tensor(t, GPU_MEM_SCRATCH, TENSOR_F32, M, n, NULL);
	struct gpu_mmv_fusion f = {
		.norm = (flags & F_NORM) ? &NW : NULL,
		.eps = eps,
		.up = (flags & F_GLU) ? &U : NULL,
		.residual = (flags & F_ADD) ? &R : NULL,
	};
	CHECK(gpu_recorder_begin(t->rec) == 0);
	CHECK(gpu_op_mul_mat_vec_fused(t->rec, "model.layers.0.fused", &W, &X, &f, &Y) == 0);
	uint32_t dispatches = gpu_recorder_dispatch_count(t->rec);
	run(t);
	float *y = malloc(sizeof(float) * M * n);
	double *ref = malloc(sizeof(double) * M * n), *xin = malloc(sizeof(double) * K);
	CHECK(gpu_test_read(t, &Y, y) == 0);
	for (uint32_t c = 0; c < n; c++) {
		const float *xc = x + (size_t)K * c;
		double scale = 1;
		if (flags & F_NORM) {
			double ss = 0;
			for (uint32_t k = 0; k < K; k++)
				ss += (double)xc[k] * xc[k];
			scale = 1.0 / sqrt(ss / K + eps);
		}
		for (uint32_t k = 0; k < K; k++)
			xin[k] = (flags & F_NORM) ? xc[k] * scale * nw[k] : xc[k];
		for (uint32_t m = 0; m < M; m++) {
			double a = 0, b = 0;
			for (uint32_t k = 0; k < K; k++) {
				a += (double)wd[(size_t)K * m + k] * xin[k];
				if (flags & F_GLU)
					b += (double)ud[(size_t)K * m + k] * xin[k];
			}
			if (flags & F_GLU)
				a = a / (1 + exp(-a)) * b;
			if (flags & F_ADD)
				a += res[(size_t)M * c + m];
			ref[(size_t)M * c + m] = a;
		}
	}
	double err = gpu_test_nmse(y, ref, (size_t)M * n);
	const struct tensor_type_info *ti = tensor_type_info(type);
	CHECKF(err < 1e-9, "fused %s [%u, %u] n=%u flags %#x: nmse %.3g", ti->name, K, M, n, flags,
	       err);
	fprintf(stderr, "mul_mat_vec_fused %s [%u, %u] n=%u%s%s%s%s: %u dispatch(es), nmse %.2e\n",
		ti->name, K, M, n, (flags & F_NORM) ? " +norm" : "", (flags & F_GLU) ? " +glu" : "",
		(flags & F_ADD) ? " +residual" : "", (flags & F_IN_PLACE) ? " (in place)" : "",
		dispatches, err);
	free(wd);
	free(ud);
	free(x);
	free(nw);
	free(res);
	free(y);
	free(ref);
	free(xin);
}

static void group_fused(void)
{
	struct gpu_test t;
	gpu_test_open(&t, 0);
	test_fused(&t, TENSOR_Q4_0, D, 3 * D, 1, F_NORM, 501);           /* operator_norm → in_proj */
	test_fused(&t, TENSOR_Q4_0, D, 3 * D, 3, F_NORM, 502);
	test_fused(&t, TENSOR_Q4_0, D, FF, 2, F_NORM | F_GLU, 503);      /* ffn_norm → w1, w3, SwiGLU */
	test_fused(&t, TENSOR_Q6_K, FF, D, 1, F_ADD | F_IN_PLACE, 504);  /* w2 + residual */
	test_fused(&t, TENSOR_Q8_0, D, D, 5, F_ADD, 505);                /* out_proj + residual */
	test_fused(&t, TENSOR_F16, D, NKV * HD, 1, F_NORM, 506);         /* k_proj */
	test_fused(&t, TENSOR_F32, D, D, 2, F_NORM | F_GLU | F_ADD, 507);
	test_fused(&t, TENSOR_Q8_0, D, D, 1, 0, 508);                    /* nothing fused */
	CHECK(gpu_test_close(&t) == 0);
	/* 1 MiB binding windows: W and up in pieces */
	gpu_test_open(&t, 1u << 20);
	test_fused(&t, TENSOR_Q8_0, D, FF, 2, F_NORM | F_GLU | F_ADD | F_IN_PLACE, 509);
	CHECK(gpu_test_close(&t) == 0);
}

int main(int argc, char **argv)
{
	const char *g = argc > 1 ? argv[1] : "";
	if (!strcmp(g, "rows"))
		group_rows();
	else if (!strcmp(g, "conv"))
		group_conv();
	else if (!strcmp(g, "attn"))
		group_attn();
	else if (!strcmp(g, "ffn-sample"))
		group_ffn_sample();
	else if (!strcmp(g, "fused"))
		group_fused();
	else {
		fprintf(stderr, "usage: %s rows|conv|attn|ffn-sample|fused\n", argv[0]);
		return 2;
	}
	return check_report();
}
