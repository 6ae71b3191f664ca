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
		if (id < 0)
			continue;
		if ((uint32_t)id >= table->ne[1] || dequantize_row(table->type, row(table, (uint32_t)id), F(y, i),
								    table->ne[0]) < 0)
			return -EINVAL;
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

static int cpu_shortconv(void *ctx, const char *label, const struct lm_tensor *z, const struct lm_tensor *w,
			 const struct lm_tensor *state, const struct lm_tensor *rows,
			 const struct lm_pool_geom *g, const struct lm_tensor *y)
{
	(void)ctx, (void)label, (void)g;
	uint32_t d = y->ne[0], n = y->ne[1], L = w->ne[0], Lm1 = L - 1;
	/* s = B ⊙ X into the B third of z (the rows of this step). */
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t ch = 0; ch < d; ch++)
			F(z, i)[ch] *= F(z, i)[2 * d + ch];
	for (uint32_t i = 0; i < n; i++) {
		const struct lm_row *r = (const struct lm_row *)I(rows, i);
		uint32_t j = i - (uint32_t)r->first; /* index inside the sequence's rows */
		for (uint32_t ch = 0; ch < d; ch++) {
			float c = 0;
			for (uint32_t k = 0; k < L; k++) {
				int64_t back = (int64_t)L - 1 - k; /* tap k sees s[j − back] */
				float s = (int64_t)j >= back ? F(z, (uint32_t)(i - back))[ch]
							     : F(state, r->slot * Lm1 + (uint32_t)(Lm1 + j - back))[ch];
				c += F(w, ch)[k] * s;
			}
			F(y, i)[ch] = F(z, i)[d + ch] * c;
		}
	}
	/* New state: the last L−1 values of concat(state, s) per sequence. */
	for (uint32_t i = 0; i < n; i++) {
		const struct lm_row *r = (const struct lm_row *)I(rows, i);
		if ((uint32_t)r->last != i)
			continue;
		uint32_t len = i - (uint32_t)r->first + 1;
		float *hist = g_new(float, (size_t)(Lm1 + len) * d);
		for (uint32_t t = 0; t < Lm1; t++)
			memcpy(hist + (size_t)t * d, F(state, r->slot * Lm1 + t), d * sizeof(float));
		for (uint32_t t = 0; t < len; t++)
			memcpy(hist + (size_t)(Lm1 + t) * d, F(z, (uint32_t)r->first + t), d * sizeof(float));
		for (uint32_t t = 0; t < Lm1; t++)
			memcpy(F(state, r->slot * Lm1 + t), hist + (size_t)(len + t) * d, d * sizeof(float));
		g_free(hist);
	}
	return 0;
}

static int cpu_rope(void *ctx, const char *label, const struct lm_tensor *x, uint32_t n_heads,
		    const struct lm_tensor *rows, float theta)
{
	(void)ctx, (void)label;
	uint32_t hd = x->ne[0] / n_heads, half = hd / 2;
	for (uint32_t i = 0; i < x->ne[1]; i++) {
		int32_t pos = I(rows, i)[1];
		for (uint32_t h = 0; h < n_heads; h++) {
			float *v = F(x, i) + h * hd;
			for (uint32_t k = 0; k < half; k++) {
				float inv = 1.0f / powf(theta, (float)(2 * k) / (float)hd);
				float a = (float)pos * inv, c = cosf(a), s = sinf(a);
				float x0 = v[k], x1 = v[k + half];
				v[k] = x0 * c - x1 * s;
				v[k + half] = x1 * c + x0 * s;
			}
		}
	}
	return 0;
}

static int cpu_kv_write(void *ctx, const char *label, const struct lm_tensor *k, const struct lm_tensor *v,
			const struct lm_tensor *kc, const struct lm_tensor *vc, const struct lm_tensor *rows,
			const struct lm_pool_geom *g)
{
	(void)ctx, (void)label;
	for (uint32_t i = 0; i < k->ne[1]; i++) {
		const struct lm_row *r = (const struct lm_row *)I(rows, i);
		uint32_t dst = (uint32_t)r->slot * g->n_ctx + (uint32_t)r->pos;
		memcpy(F(kc, dst), F(k, i), k->ne[0] * sizeof(float));
		memcpy(F(vc, dst), F(v, i), v->ne[0] * sizeof(float));
	}
	return 0;
}

static int cpu_attention(void *ctx, const char *label, const struct lm_tensor *q, const struct lm_tensor *kc,
			 const struct lm_tensor *vc, const struct lm_tensor *rows, const struct lm_pool_geom *g,
			 uint32_t n_head, uint32_t n_head_kv, uint32_t hd, const struct lm_tensor *o)
{
	(void)ctx, (void)label;
	uint32_t group = n_head / n_head_kv;
	double *att = g_new(double, g->n_ctx);
	for (uint32_t i = 0; i < q->ne[1]; i++) {
		const struct lm_row *r = (const struct lm_row *)I(rows, i);
		uint32_t base = (uint32_t)r->slot * g->n_ctx;
		for (uint32_t h = 0; h < n_head; h++) {
			const float *qh = F(q, i) + h * hd;
			uint32_t kvh = h / group;
			double mx = -INFINITY, sum = 0;
			for (uint32_t t = 0; t <= (uint32_t)r->pos; t++) {
				const float *kt = F(kc, base + t) + kvh * hd;
				double s = 0;
				for (uint32_t e = 0; e < hd; e++)
					s += (double)qh[e] * kt[e];
				att[t] = s / sqrt((double)hd);
				mx = fmax(mx, att[t]);
			}
			for (uint32_t t = 0; t <= (uint32_t)r->pos; t++)
				sum += att[t] = exp(att[t] - mx);
			float *oh = F(o, i) + h * hd;
			for (uint32_t e = 0; e < hd; e++) {
				double acc = 0;
				for (uint32_t t = 0; t <= (uint32_t)r->pos; t++)
					acc += att[t] * F(vc, base + t)[kvh * hd + e];
				oh[e] = (float)(acc / sum);
			}
		}
	}
	g_free(att);
	return 0;
}

void lm_cpu_backend(struct lm_backend *be)
{
	*be = (struct lm_backend){
		.name = "cpu",
		.alloc = cpu_alloc,
		.free = cpu_free,
		.write = cpu_write,
		.flush = cpu_nop,
		.read = cpu_read,
		.begin = cpu_nop,
		.submit_wait = cpu_nop,
		.get_rows = cpu_get_rows,
		.mul_mat = cpu_mul_mat,
		.rms_norm = cpu_rms_norm,
		.add = cpu_add,
		.swiglu = cpu_swiglu,
		.shortconv = cpu_shortconv,
		.rope = cpu_rope,
		.kv_write = cpu_kv_write,
		.attention = cpu_attention,
	};
}
