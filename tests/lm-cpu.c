/* tests/lm-cpu.c — the CPU lm_backend (see lm-cpu.h). */
#include "tests/lm-cpu.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "model/quant.h"

struct cpu_mem {
	uint8_t *p;
	uint64_t size;
};

static int cpu_alloc(void *ctx, enum lm_mem_kind kind, uint64_t bytes, const char *name, void **mem)
{
	(void)ctx, (void)kind, (void)name;
	struct cpu_mem *m = g_new0(struct cpu_mem, 1);
	m->p = g_try_malloc0(bytes);
	if (!m->p) {
		g_free(m);
		return -ENOMEM;
	}
	m->size = bytes;
	*mem = m;
	return 0;
}

static void cpu_free(void *ctx, void *mem)
{
	(void)ctx;
	struct cpu_mem *m = mem;
	g_free(m->p);
	g_free(m);
}

static int cpu_write(void *ctx, void *mem, uint64_t off, const void *src, uint64_t bytes)
{
	(void)ctx;
	struct cpu_mem *m = mem;
	if (off > m->size || bytes > m->size - off)
		return -EINVAL;
	memcpy(m->p + off, src, bytes);
	return 0;
}

static int cpu_read(void *ctx, void *mem, uint64_t off, void *dst, uint64_t bytes)
{
	(void)ctx;
	struct cpu_mem *m = mem;
	if (off > m->size || bytes > m->size - off)
		return -EINVAL;
	memcpy(dst, m->p + off, bytes);
	return 0;
}

static int cpu_nop(void *ctx)
{
	(void)ctx;
	return 0;
}

/* Row r of t (row_stride 0: contiguous). */
static uint8_t *row(const struct lm_tensor *t, uint32_t r)
{
	uint64_t stride = t->row_stride;
	if (!stride) {
		if (t->type == LM_TYPE_I32)
			stride = (uint64_t)t->ne[0] * 4;
		else
			tensor_row_bytes(t->type, t->ne[0], &stride);
	}
	return ((struct cpu_mem *)t->mem)->p + t->offset + (uint64_t)r * stride;
}

#define F(t, r) ((float *)row(t, r))
#define I(t, r) ((int32_t *)row(t, r))

static int cpu_get_rows(void *ctx, const char *label, const struct lm_tensor *table,
			const struct lm_tensor *ids, const struct lm_tensor *y)
{
	(void)ctx, (void)label;
	for (uint32_t i = 0; i < ids->ne[0]; i++) {
		int32_t id = I(ids, 0)[i];
		if (id < 0 || (uint32_t)id >= table->ne[1] ||
		    dequantize_row(table->type, row(table, (uint32_t)id), F(y, i), table->ne[0]) < 0)
			return -EINVAL;
	}
	return 0;
}

static int cpu_set_rows(void *ctx, const char *label, const struct lm_tensor *src,
			const struct lm_tensor *rows, const struct lm_tensor *y)
{
	(void)ctx, (void)label;
	for (uint32_t i = 0; i < rows->ne[0]; i++) {
		int32_t r = I(rows, 0)[i];
		if (r < 0 || (uint32_t)r >= y->ne[1])
			return -EINVAL;
		memcpy(F(y, (uint32_t)r), F(src, i), src->ne[0] * sizeof(float));
	}
	return 0;
}

static int cpu_mul_mat(void *ctx, const char *label, const struct lm_tensor *w, const struct lm_tensor *x,
		       const struct lm_tensor *y)
{
	(void)ctx, (void)label;
	uint32_t K = w->ne[0], M = w->ne[1], n = x->ne[1];
	if (x->ne[0] != K || y->ne[0] != M || y->ne[1] != n)
		return -EINVAL;
	float *wr = g_new(float, K);
	for (uint32_t r = 0; r < M; r++) {
		if (dequantize_row(w->type, row(w, r), wr, K) < 0) {
			g_free(wr);
			return -EINVAL;
		}
		for (uint32_t c = 0; c < n; c++) {
			const float *xc = F(x, c);
			float s = 0;
			for (uint32_t k = 0; k < K; k++)
				s += wr[k] * xc[k];
			F(y, c)[r] = s;
		}
	}
	g_free(wr);
	return 0;
}

static int cpu_rms_norm(void *ctx, const char *label, const struct lm_tensor *x, const struct lm_tensor *w,
			float eps, const struct lm_tensor *y)
{
	(void)ctx, (void)label;
	uint32_t K = x->ne[0];
	for (uint32_t r = 0; r < x->ne[1]; r++) {
		const float *xr = F(x, r);
		double ss = 0;
		for (uint32_t k = 0; k < K; k++)
			ss += (double)xr[k] * xr[k];
		float scale = 1.0f / sqrtf((float)(ss / K) + eps);
		float *yr = F(y, r);
		for (uint32_t k = 0; k < K; k++)
			yr[k] = xr[k] * scale * F(w, 0)[k];
	}
	return 0;
}

static int cpu_add(void *ctx, const char *label, const struct lm_tensor *a, const struct lm_tensor *b,
		   const struct lm_tensor *c)
{
	(void)ctx, (void)label;
	for (uint32_t r = 0; r < a->ne[1]; r++)
		for (uint32_t k = 0; k < a->ne[0]; k++)
			F(c, r)[k] = F(a, r)[k] + F(b, b->ne[1] == 1 ? 0 : r)[k];
	return 0;
}

static int cpu_swiglu(void *ctx, const char *label, const struct lm_tensor *g, const struct lm_tensor *u,
		      const struct lm_tensor *y)
{
	(void)ctx, (void)label;
	for (uint32_t r = 0; r < g->ne[1]; r++)
		for (uint32_t k = 0; k < g->ne[0]; k++) {
			float a = F(g, r)[k];
			F(y, r)[k] = a / (1.0f + expf(-a)) * F(u, r)[k];
		}
	return 0;
}

/* The fusion composed from the plain ops above, on host temporaries: the
 * graph's fused path then runs on the CPU too (and must match the goldens). */
static int cpu_mul_mat_fused(void *ctx, const char *label, const struct lm_tensor *w,
			     const struct lm_tensor *x, const struct lm_fusion *f, const struct lm_tensor *y)
{
	uint32_t K = w->ne[0], M = w->ne[1], n = x->ne[1];
	if (x->ne[0] != K || y->ne[0] != M || y->ne[1] != n || (f->up && (f->up->ne[0] != K ||
	    f->up->ne[1] != M)) || (f->residual && (f->residual->ne[0] != M || f->residual->ne[1] != n)))
		return -EINVAL;
	struct cpu_mem xm = { g_new(uint8_t, (uint64_t)K * n * 4), (uint64_t)K * n * 4 };
	struct cpu_mem ym = { g_new(uint8_t, (uint64_t)M * n * 4), (uint64_t)M * n * 4 };
	struct cpu_mem um = { g_new(uint8_t, (uint64_t)M * n * 4), (uint64_t)M * n * 4 };
	struct lm_tensor xt = { .mem = &xm, .type = TENSOR_F32, .ne = { K, n } };
	struct lm_tensor yt = { .mem = &ym, .type = TENSOR_F32, .ne = { M, n } };
	struct lm_tensor ut = { .mem = &um, .type = TENSOR_F32, .ne = { M, n } };
	for (uint32_t c = 0; c < n; c++)
		memcpy(F(&xt, c), F(x, c), (size_t)K * 4);
	int ret = 0;
	if (f->norm)
		ret = cpu_rms_norm(ctx, label, &xt, f->norm, f->eps, &xt);
	if (ret == 0)
		ret = cpu_mul_mat(ctx, label, w, &xt, &yt);
	if (ret == 0 && f->up && (ret = cpu_mul_mat(ctx, label, f->up, &xt, &ut)) == 0)
		ret = cpu_swiglu(ctx, label, &yt, &ut, &yt);
	if (ret == 0 && f->residual)
		ret = cpu_add(ctx, label, &yt, f->residual, &yt);
	for (uint32_t c = 0; ret == 0 && c < n; c++)
		memcpy(F(y, c), F(&yt, c), (size_t)M * 4);
	g_free(xm.p);
	g_free(ym.p);
	g_free(um.p);
	return ret;
}

/* Field f of sequence j / of row i in the batch tables. */
static int32_t seqf(const struct lm_batch *b, uint32_t j, int f)
{
	return I(&b->seqs, j)[f];
}

static int cpu_shortconv(void *ctx, const char *label, const struct lm_tensor *z, const struct lm_tensor *w,
			 const struct lm_tensor *state, const struct lm_batch *b, const struct lm_tensor *y)
{
	(void)ctx, (void)label;
	uint32_t d = y->ne[0], L = w->ne[0], Lm1 = L - 1;
	for (uint32_t j = 0; j < b->n_seq; j++) {
		uint32_t tok0 = (uint32_t)seqf(b, j, 0), n = (uint32_t)seqf(b, j, 1);
		float *st = F(state, (uint32_t)seqf(b, j, 2)); /* [L−1][d], oldest first */
		/* hist = concat(state, s[0..n−1]) along time, s = B ⊙ X. */
		float *hist = g_new(float, (size_t)(Lm1 + n) * d);
		memcpy(hist, st, (size_t)Lm1 * d * sizeof(float));
		for (uint32_t t = 0; t < n; t++)
			for (uint32_t ch = 0; ch < d; ch++)
				hist[(size_t)(Lm1 + t) * d + ch] = F(z, tok0 + t)[ch] * F(z, tok0 + t)[2 * d + ch];
		for (uint32_t t = 0; t < n; t++)
			for (uint32_t ch = 0; ch < d; ch++) {
				float c = 0;
				for (uint32_t k = 0; k < L; k++) /* tap L−1 is the current token */
					c += F(w, ch)[k] * hist[(size_t)(t + k) * d + ch];
				F(y, tok0 + t)[ch] = F(z, tok0 + t)[d + ch] * c;
			}
		memcpy(st, hist + (size_t)n * d, (size_t)Lm1 * d * sizeof(float));
		g_free(hist);
	}
	return 0;
}

static void rms_inplace(float *x, const float *w, uint32_t n, float eps)
{
	double ss = 0;
	for (uint32_t k = 0; k < n; k++)
		ss += (double)x[k] * x[k];
	float scale = 1.0f / sqrtf((float)(ss / n) + eps);
	for (uint32_t k = 0; k < n; k++)
		x[k] = x[k] * scale * w[k];
}

static void rope_inplace(float *v, uint32_t hd, int32_t pos, float theta)
{
	uint32_t half = hd / 2;
	for (uint32_t k = 0; k < half; k++) {
		float inv = 1.0f / powf(theta, (float)(2 * k) / (float)hd);
		float a = (float)pos * inv, c = cosf(a), s = sinf(a);
		float x0 = v[k], x1 = v[k + half];
		v[k] = x0 * c - x1 * s;
		v[k + half] = x1 * c + x0 * s;
	}
}

/* A cache row is written whole, quantized as quantize_row does (F32, F16,
 * Q8_0, Q4_0: the GPU kernels' block layouts), and read back dequantized. */
static int kv_put(const struct lm_tensor *t, uint32_t r, const float *src, uint32_t n)
{
	return quantize_row(t->type, src, row(t, r), n) < 0 ? -EINVAL : 0;
}

static int kv_get_rows(const struct lm_tensor *t, uint32_t r0, uint32_t n, float *dst)
{
	for (uint32_t r = 0; r < n; r++)
		if (dequantize_row(t->type, row(t, r0 + r), dst + (size_t)r * t->ne[0], t->ne[0]) < 0)
			return -EINVAL;
	return 0;
}

static int cpu_qk_norm_rope_kv(void *ctx, const char *label, const struct lm_tensor *q,
			       const struct lm_tensor *k, const struct lm_tensor *v,
			       const struct lm_tensor *q_norm, const struct lm_tensor *k_norm,
			       const struct lm_batch *b, const struct lm_kv *kv, uint32_t hd, float eps,
			       float theta)
{
	(void)ctx, (void)label;
	uint32_t nq = q->ne[0] / hd, nk = k->ne[0] / hd;
	for (uint32_t i = 0; i < b->n_tok; i++) {
		int32_t pos = I(&b->toks, i)[0], slot = I(&b->toks, i)[1];
		for (uint32_t h = 0; h < nq; h++) {
			rms_inplace(F(q, i) + h * hd, F(q_norm, 0), hd, eps);
			rope_inplace(F(q, i) + h * hd, hd, pos, theta);
		}
		for (uint32_t h = 0; h < nk; h++) {
			rms_inplace(F(k, i) + h * hd, F(k_norm, 0), hd, eps);
			rope_inplace(F(k, i) + h * hd, hd, pos, theta);
		}
		uint32_t dst = (uint32_t)slot * kv->n_ctx + (uint32_t)pos;
		if (kv_put(&kv->k, dst, F(k, i), k->ne[0]) < 0 || kv_put(&kv->v, dst, F(v, i), v->ne[0]) < 0)
			return -EINVAL;
	}
	return 0;
}

static int cpu_attention(void *ctx, const char *label, const struct lm_tensor *q, const struct lm_kv *kv,
			 const struct lm_batch *b, uint32_t hd, const struct lm_tensor *o)
{
	(void)ctx, (void)label;
	uint32_t n_head = q->ne[0] / hd, n_kv = kv->k.ne[0] / hd, group = n_head / n_kv, nk = kv->k.ne[0];
	double *att = g_new(double, kv->n_ctx);
	float *kf = g_new(float, (size_t)kv->n_ctx * nk), *vf = g_new(float, (size_t)kv->n_ctx * nk);
	int ret = 0;
	for (uint32_t j = 0; j < b->n_seq && ret == 0; j++) {
		uint32_t tok0 = (uint32_t)seqf(b, j, 0), n = (uint32_t)seqf(b, j, 1);
		uint32_t base = (uint32_t)seqf(b, j, 2) * kv->n_ctx, n_past = (uint32_t)seqf(b, j, 3);
		/* The slot's cache as f32, as the GPU kernels dequantize it. */
		if ((ret = kv_get_rows(&kv->k, base, n_past + n, kf)) < 0 ||
		    (ret = kv_get_rows(&kv->v, base, n_past + n, vf)) < 0)
			break;
		for (uint32_t i = 0; i < n; i++) {
			uint32_t last = n_past + i; /* causal: rows 0..last */
			for (uint32_t h = 0; h < n_head; h++) {
				const float *qh = F(q, tok0 + i) + h * hd;
				uint32_t g = h / group;
				double mx = -INFINITY, sum = 0;
				for (uint32_t t = 0; t <= last; t++) {
					double s = 0;
					for (uint32_t e = 0; e < hd; e++)
						s += (double)qh[e] * kf[(size_t)t * nk + g * hd + e];
					att[t] = s / sqrt((double)hd);
					mx = fmax(mx, att[t]);
				}
				for (uint32_t t = 0; t <= last; t++)
					sum += att[t] = exp(att[t] - mx);
				float *oh = F(o, tok0 + i) + h * hd;
				for (uint32_t e = 0; e < hd; e++) {
					double acc = 0;
					for (uint32_t t = 0; t <= last; t++)
						acc += att[t] * vf[(size_t)t * nk + g * hd + e];
					oh[e] = (float)(acc / sum);
				}
			}
		}
	}
	g_free(att);
	g_free(kf);
	g_free(vf);
	return ret;
}

static int cpu_argmax(void *ctx, const char *label, const struct lm_tensor *logits,
		      const struct lm_tensor *ids)
{
	(void)ctx, (void)label;
	for (uint32_t r = 0; r < logits->ne[1]; r++) {
		const float *x = F(logits, r);
		uint32_t best = 0;
		for (uint32_t i = 1; i < logits->ne[0]; i++)
			if (x[i] > x[best])
				best = i;
		I(ids, 0)[r] = (int32_t)best;
	}
	return 0;
}

void lm_cpu_backend_argmax(struct lm_backend *be)
{
	be->argmax = cpu_argmax;
}

void lm_cpu_backend_fused(struct lm_backend *be)
{
	lm_cpu_backend(be);
	be->name = "cpu-fused";
	be->mul_mat_fused = cpu_mul_mat_fused;
	be->fused_max_rows = UINT32_MAX; /* prefill too: the goldens check every logit */
	be->fuse = LM_FUSE_ALL;
}

void lm_cpu_backend(struct lm_backend *be)
{
	*be = (struct lm_backend){
		.name = "cpu",
		.kv_type = TENSOR_F32,
		.kv_types = 1u << TENSOR_F32 | 1u << TENSOR_F16 | 1u << TENSOR_Q8_0 | 1u << TENSOR_Q4_0,
		.alloc = cpu_alloc,
		.free = cpu_free,
		.write = cpu_write,
		.flush = cpu_nop,
		.read = cpu_read,
		.begin = cpu_nop,
		.submit_wait = cpu_nop,
		.get_rows = cpu_get_rows,
		.set_rows = cpu_set_rows,
		.mul_mat = cpu_mul_mat,
		.rms_norm = cpu_rms_norm,
		.add = cpu_add,
		.swiglu = cpu_swiglu,
		.shortconv = cpu_shortconv,
		.qk_norm_rope_kv = cpu_qk_norm_rope_kv,
		.attention = cpu_attention,
	};
}
