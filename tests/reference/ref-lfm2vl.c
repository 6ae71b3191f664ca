/* tests/reference/ref-lfm2vl.c — plain-C F32 reference forward pass of
 * LFM2-VL: the LFM2 language model (spec §3) and the SigLIP2-NaFlex vision
 * tower + projector (spec §4), HF profile.
 *
 * Numerics: activations and dot products are f32, like a plain f32 torch run
 * up to summation order. Statistics of normalisations
 * (Σx², mean, variance) are accumulated in double: llama.cpp's CPU RMSNorm
 * does so, and it makes these sums independent of summation order, so they
 * contribute nothing to the difference against torch's blocked f32 sums.
 */
#include "tests/reference/ref-lfm2vl.h"

#include "model/image_plan.h"
#include "tests/reference/ref-image.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "model/quant.h"

/* ---------------------------------------------------------------- memory */

static float *model_alloc(struct ref_model *m, size_t n_floats)
{
	if (n_floats == 0 || n_floats > SIZE_MAX / sizeof(float))
		return NULL;
	if (m->n_allocs == m->cap_allocs) {
		size_t cap = m->cap_allocs ? 2 * m->cap_allocs : 64;
		void **a = realloc(m->allocs, cap * sizeof *a);
		if (!a)
			return NULL;
		m->allocs = a;
		m->cap_allocs = cap;
	}
	float *p = calloc(n_floats, sizeof(float));
	if (p)
		m->allocs[m->n_allocs++] = p;
	return p;
}

void ref_model_destroy(struct ref_model *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_allocs; i++)
		free(m->allocs[i]);
	free(m->allocs);
	free(m->vlayers);
	free(m);
}

static int errf(char *err, size_t size, int ret, const char *fmt, ...)
{
	if (err && size) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, size, fmt, ap);
		va_end(ap);
	}
	return ret;
}

/* Shape limits that keep every size product below 2^40 floats; real models
 * are far inside them. */
static bool lm_shapes_ok(const struct lfm2_lm_hparams *h)
{
	return h->n_layer >= 1 && h->n_layer <= LFM2_MAX_LAYERS && h->d_model >= 1 && h->d_model <= 16384 &&
	       h->d_ff >= 1 && h->d_ff <= 65536 && h->n_head >= 1 && h->n_head <= 256 &&
	       h->head_dim >= 2 && h->head_dim % 2 == 0 && h->head_dim <= 1024 && h->n_head_kv <= h->n_head &&
	       (h->n_attention_layers == 0 || (h->n_head_kv >= 1 && h->n_head % h->n_head_kv == 0)) &&
	       h->n_vocab >= 1 && h->n_vocab <= (1u << 20) && h->l_cache >= 1 && h->l_cache <= 16;
}

static bool vis_shapes_ok(const struct lfm2_vision_hparams *v, uint32_t d_model)
{
	return v->patch_size >= 1 && v->patch_size <= 64 && v->width >= 1 && v->width <= 8192 &&
	       v->d_ff >= 1 && v->d_ff <= 65536 && v->n_layer <= 256 && v->n_head >= 1 &&
	       v->width % v->n_head == 0 && v->pos_grid >= 1 && v->pos_grid <= 256 &&
	       v->n_pos == v->pos_grid * v->pos_grid && v->scale_factor >= 1 && v->scale_factor <= 8 &&
	       v->proj_hidden >= 1 && v->proj_hidden <= 65536 && v->projection_dim == d_model;
}

/* Vision scratch, sized once for the largest single crop. */
static int alloc_vision_scratch(struct ref_model *m)
{
	const struct lfm2_vision_hparams *v = &m->vis;
	size_t n = REF_MAX_PATCHES, D = v->width, p = v->patch_size;
	size_t U = D * v->scale_factor * v->scale_factor;
	struct ref_vision_scratch *s = &m->vs;
	/* rgb is bytes; a float buffer of the same count is more than enough. */
	s->rgb = (uint8_t *)model_alloc(m, n * p * p * 3 / sizeof(float) + 1);
	s->x = model_alloc(m, n * D);
	s->xb = model_alloc(m, n * D);
	s->q = model_alloc(m, n * D);
	s->k = model_alloc(m, n * D);
	s->v = model_alloc(m, n * D);
	s->att = model_alloc(m, n);
	s->o = model_alloc(m, n * D);
	s->hb = model_alloc(m, n * v->d_ff);
	s->patch = model_alloc(m, p * p * 3);
	s->pos = model_alloc(m, n * D);
	s->u = model_alloc(m, U);
	s->t = model_alloc(m, v->proj_hidden);
	if (!s->rgb || !s->x || !s->xb || !s->q || !s->k || !s->v || !s->att || !s->o || !s->hb ||
	    !s->patch || !s->pos || !s->u || !s->t)
		return -ENOMEM;
	return 0;
}

/* ---------------------------------------------------------------- loading */

/* Find name, check its shape is exactly ne (unused dims 1) and dequantize it
 * to a fresh F32 buffer. */
static float *load_tensor(struct ref_model *m, const struct gguf_file *f, const char *name,
			  uint64_t ne0, uint64_t ne1, uint64_t ne2, uint64_t ne3, int *ret, char *err,
			  size_t err_size)
{
	if (*ret < 0)
		return NULL;
	const struct gguf_tensor *t = gguf_find_tensor(f, name);
	if (!t) {
		*ret = errf(err, err_size, -EBADMSG, "tensor '%s' missing", name);
		return NULL;
	}
	uint64_t want[4] = { ne0, ne1, ne2, ne3 };
	for (int i = 0; i < 4; i++)
		if (t->ne[i] != want[i]) {
			*ret = errf(err, err_size, -EBADMSG,
				    "tensor '%s' has shape [%llu, %llu, %llu, %llu], expected [%llu, %llu, %llu, %llu]",
				    name, (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
				    (unsigned long long)t->ne[2], (unsigned long long)t->ne[3],
				    (unsigned long long)ne0, (unsigned long long)ne1, (unsigned long long)ne2,
				    (unsigned long long)ne3);
			return NULL;
		}
	float *dst = model_alloc(m, t->n_elements);
	if (!dst) {
		*ret = errf(err, err_size, -ENOMEM, "out of memory for '%s'", name);
		return NULL;
	}
	int r;
	if (t->type == TENSOR_F32) {
		memcpy(dst, t->data, t->n_elements * sizeof(float));
		r = 0;
	} else {
		r = dequantize_row(t->type, t->data, dst, t->n_elements);
	}
	if (r < 0) {
		*ret = errf(err, err_size, -EBADMSG, "tensor '%s': cannot dequantize type %u", name, t->type);
		return NULL;
	}
	return dst;
}

static int load_lm(struct ref_model *m, const struct gguf_file *f, char *err, size_t es)
{
	int ret = lfm2_lm_hparams_read(f, &m->lm, err, es);
	if (ret < 0)
		return ret;
	const struct lfm2_lm_hparams *h = &m->lm;
	if (!lm_shapes_ok(h))
		return errf(err, es, -EBADMSG, "LM shapes out of the reference's range");
	uint64_t d = h->d_model, F = h->d_ff, V = h->n_vocab;
	uint64_t nq = (uint64_t)h->n_head * h->head_dim, nk = (uint64_t)h->n_head_kv * h->head_dim;
	char name[96];
	m->tok_embd = load_tensor(m, f, "token_embd.weight", d, V, 1, 1, &ret, err, es);
	m->final_norm = load_tensor(m, f, "token_embd_norm.weight", d, 1, 1, 1, &ret, err, es);
#define LT(field, suffix, a, b)                                                          \
	do {                                                                             \
		snprintf(name, sizeof name, "blk.%u.%s", i, suffix);                     \
		L->field = load_tensor(m, f, name, a, b, 1, 1, &ret, err, es);           \
	} while (0)
	for (uint32_t i = 0; i < h->n_layer && ret == 0; i++) {
		struct ref_lm_layer *L = &m->layers[i];
		LT(attn_norm, "attn_norm.weight", d, 1);
		LT(ffn_norm, "ffn_norm.weight", d, 1);
		LT(ffn_gate, "ffn_gate.weight", d, F);
		LT(ffn_up, "ffn_up.weight", d, F);
		LT(ffn_down, "ffn_down.weight", F, d);
		if (h->is_attention[i]) {
			LT(wq, "attn_q.weight", d, nq);
			LT(wk, "attn_k.weight", d, nk);
			LT(wv, "attn_v.weight", d, nk);
			LT(wo, "attn_output.weight", nq, d);
			LT(q_norm, "attn_q_norm.weight", h->head_dim, 1);
			LT(k_norm, "attn_k_norm.weight", h->head_dim, 1);
		} else {
			LT(conv_in, "shortconv.in_proj.weight", d, 3 * d);
			LT(conv_w, "shortconv.conv.weight", h->l_cache, d);
			LT(conv_out, "shortconv.out_proj.weight", d, d);
		}
	}
#undef LT
	return ret;
}

static int load_vision(struct ref_model *m, const struct gguf_file *f, char *err, size_t es)
{
	int ret = lfm2_vision_hparams_read(f, &m->vis, err, es);
	if (ret < 0)
		return ret;
	const struct lfm2_vision_hparams *v = &m->vis;
	if (!vis_shapes_ok(v, m->lm.d_model))
		return errf(err, es, -EBADMSG, "vision shapes out of the reference's range or projection_dim != LM width");
	uint64_t D = v->width, Fv = v->d_ff, p = v->patch_size, P = v->proj_hidden, d = m->lm.d_model;
	uint64_t U = D * v->scale_factor * v->scale_factor;
	m->vlayers = calloc(v->n_layer ? v->n_layer : 1, sizeof *m->vlayers);
	if (!m->vlayers)
		return -ENOMEM;

	/* GGUF [p, p, 3, D], element [kx, ky, c, o] at ((o·3 + c)·p + ky)·p + kx
	 * (spec §1.8) → linear weight on (ky, kx, c)-flattened patches. */
	float *conv = load_tensor(m, f, "v.patch_embd.weight", p, p, 3, D, &ret, err, es);
	m->patch_w = model_alloc(m, D * p * p * 3);
	if (ret == 0 && !m->patch_w)
		ret = -ENOMEM;
	for (uint64_t o = 0; ret == 0 && o < D; o++)
		for (uint64_t c = 0; c < 3; c++)
			for (uint64_t ky = 0; ky < p; ky++)
				for (uint64_t kx = 0; kx < p; kx++)
					m->patch_w[o * p * p * 3 + (ky * p + kx) * 3 + c] =
						conv[((o * 3 + c) * p + ky) * p + kx];
	m->patch_b = load_tensor(m, f, "v.patch_embd.bias", D, 1, 1, 1, &ret, err, es);
	m->pos_embd = load_tensor(m, f, "v.position_embd.weight", D, v->n_pos, 1, 1, &ret, err, es);
	char name[96];
#define VT(field, suffix, a, b)                                                          \
	do {                                                                             \
		snprintf(name, sizeof name, "v.blk.%u.%s", i, suffix);                   \
		L->field = load_tensor(m, f, name, a, b, 1, 1, &ret, err, es);           \
	} while (0)
	for (uint32_t i = 0; i < v->n_layer && ret == 0; i++) {
		struct ref_vision_layer *L = &m->vlayers[i];
		VT(ln1_w, "ln1.weight", D, 1);
		VT(ln1_b, "ln1.bias", D, 1);
		VT(wq, "attn_q.weight", D, D);
		VT(bq, "attn_q.bias", D, 1);
		VT(wk, "attn_k.weight", D, D);
		VT(bk, "attn_k.bias", D, 1);
		VT(wv, "attn_v.weight", D, D);
		VT(bv, "attn_v.bias", D, 1);
		VT(wo, "attn_out.weight", D, D);
		VT(bo, "attn_out.bias", D, 1);
		VT(ln2_w, "ln2.weight", D, 1);
		VT(ln2_b, "ln2.bias", D, 1);
		VT(up_w, "ffn_up.weight", D, Fv);
		VT(up_b, "ffn_up.bias", Fv, 1);
		VT(down_w, "ffn_down.weight", Fv, D);
		VT(down_b, "ffn_down.bias", D, 1);
	}
#undef VT
	m->post_ln_w = load_tensor(m, f, "v.post_ln.weight", D, 1, 1, 1, &ret, err, es);
	m->post_ln_b = load_tensor(m, f, "v.post_ln.bias", D, 1, 1, 1, &ret, err, es);
	if (v->has_input_norm) {
		m->mm_norm_w = load_tensor(m, f, "mm.input_norm.weight", U, 1, 1, 1, &ret, err, es);
		m->mm_norm_b = load_tensor(m, f, "mm.input_norm.bias", U, 1, 1, 1, &ret, err, es);
	}
	m->mm1_w = load_tensor(m, f, "mm.1.weight", U, P, 1, 1, &ret, err, es);
	m->mm1_b = load_tensor(m, f, "mm.1.bias", P, 1, 1, 1, &ret, err, es);
	m->mm2_w = load_tensor(m, f, "mm.2.weight", P, d, 1, 1, &ret, err, es);
	m->mm2_b = load_tensor(m, f, "mm.2.bias", d, 1, 1, 1, &ret, err, es);
	if (ret == 0)
		ret = alloc_vision_scratch(m);
	m->has_vision = ret == 0;
	return ret;
}

int ref_model_load(const char *lm_path, const char *mmproj_path, struct ref_model **out, char *err,
		   size_t err_size)
{
	*out = NULL;
	struct gguf_file *lf = NULL, *vf = NULL;
	struct gguf_error ge = { 0 };
	struct ref_model *m = calloc(1, sizeof *m);
	if (!m)
		return -ENOMEM;
	int ret = gguf_file_open(lm_path, &lf, &ge);
	if (ret < 0) {
		char buf[400];
		gguf_error_format(&ge, lm_path, buf, sizeof buf);
		errf(err, err_size, ret, "%s", buf);
		goto fail;
	}
	ret = load_lm(m, lf, err, err_size);
	if (ret < 0)
		goto fail;
	if (mmproj_path) {
		ret = gguf_file_open(mmproj_path, &vf, &ge);
		if (ret < 0) {
			char buf[400];
			gguf_error_format(&ge, mmproj_path, buf, sizeof buf);
			errf(err, err_size, ret, "%s", buf);
			goto fail;
		}
		ret = load_vision(m, vf, err, err_size);
		if (ret < 0)
			goto fail;
	}
	gguf_file_destroy(lf);
	gguf_file_destroy(vf);
	*out = m;
	return 0;
fail:
	gguf_file_destroy(lf);
	gguf_file_destroy(vf);
	ref_model_destroy(m);
	return ret;
}

/* ---------------------------------------------------------------- random model */

/* splitmix64: a seeded stream per tensor, independent of fill order. */
static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static float *rand_tensor(struct ref_model *m, uint64_t *stream, size_t n, float center, float amp)
{
	float *p = model_alloc(m, n);
	if (!p)
		return NULL;
	uint64_t s = splitmix(stream);
	for (size_t i = 0; i < n; i++) {
		double u = (double)(splitmix(&s) >> 11) / 9007199254740992.0; /* [0, 1) */
		p[i] = center + amp * (float)(2.0 * u - 1.0);
	}
	return p;
}

int ref_model_create_random(const struct lfm2_lm_hparams *lm, const struct lfm2_vision_hparams *vis,
			    uint64_t seed, struct ref_model **out)
{
	*out = NULL;
	if (!lm_shapes_ok(lm) || (vis && !vis_shapes_ok(vis, lm->d_model)))
		return -EINVAL;
	struct ref_model *m = calloc(1, sizeof *m);
	if (!m)
		return -ENOMEM;
	m->lm = *lm;
	uint64_t st = seed;
	size_t d = lm->d_model, F = lm->d_ff, V = lm->n_vocab;
	size_t nq = (size_t)lm->n_head * lm->head_dim, nk = (size_t)lm->n_head_kv * lm->head_dim;
	float ad = 1.0f / sqrtf((float)d), aF = 1.0f / sqrtf((float)F), aq = 1.0f / sqrtf((float)nq);
	bool ok = (m->tok_embd = rand_tensor(m, &st, V * d, 0, 0.1f)) &&
		  (m->final_norm = rand_tensor(m, &st, d, 1, 0.1f));
	for (uint32_t i = 0; ok && i < lm->n_layer; i++) {
		struct ref_lm_layer *L = &m->layers[i];
		ok = (L->attn_norm = rand_tensor(m, &st, d, 1, 0.1f)) &&
		     (L->ffn_norm = rand_tensor(m, &st, d, 1, 0.1f)) &&
		     (L->ffn_gate = rand_tensor(m, &st, F * d, 0, ad)) &&
		     (L->ffn_up = rand_tensor(m, &st, F * d, 0, ad)) &&
		     (L->ffn_down = rand_tensor(m, &st, d * F, 0, aF));
		if (ok && lm->is_attention[i])
			ok = (L->wq = rand_tensor(m, &st, nq * d, 0, ad)) &&
			     (L->wk = rand_tensor(m, &st, nk * d, 0, ad)) &&
			     (L->wv = rand_tensor(m, &st, nk * d, 0, ad)) &&
			     (L->wo = rand_tensor(m, &st, d * nq, 0, aq)) &&
			     (L->q_norm = rand_tensor(m, &st, lm->head_dim, 1, 0.1f)) &&
			     (L->k_norm = rand_tensor(m, &st, lm->head_dim, 1, 0.1f));
		else if (ok)
			ok = (L->conv_in = rand_tensor(m, &st, 3 * d * d, 0, ad)) &&
			     (L->conv_w = rand_tensor(m, &st, d * lm->l_cache, 0, 0.5f)) &&
			     (L->conv_out = rand_tensor(m, &st, d * d, 0, ad));
	}
	if (ok && vis) {
		m->vis = *vis;
		size_t D = vis->width, Fv = vis->d_ff, p = vis->patch_size, P = vis->proj_hidden;
		size_t U = D * vis->scale_factor * vis->scale_factor;
		float aD = 1.0f / sqrtf((float)D), aFv = 1.0f / sqrtf((float)Fv);
		m->vlayers = calloc(vis->n_layer ? vis->n_layer : 1, sizeof *m->vlayers);
		ok = m->vlayers && (m->patch_w = rand_tensor(m, &st, D * p * p * 3, 0, 1.0f / sqrtf((float)(p * p * 3)))) &&
		     (m->patch_b = rand_tensor(m, &st, D, 0, 0.02f)) &&
		     (m->pos_embd = rand_tensor(m, &st, vis->n_pos * D, 0, 0.5f));
		for (uint32_t i = 0; ok && i < vis->n_layer; i++) {
			struct ref_vision_layer *L = &m->vlayers[i];
			ok = (L->ln1_w = rand_tensor(m, &st, D, 1, 0.1f)) && (L->ln1_b = rand_tensor(m, &st, D, 0, 0.02f)) &&
			     (L->wq = rand_tensor(m, &st, D * D, 0, aD)) && (L->bq = rand_tensor(m, &st, D, 0, 0.02f)) &&
			     (L->wk = rand_tensor(m, &st, D * D, 0, aD)) && (L->bk = rand_tensor(m, &st, D, 0, 0.02f)) &&
			     (L->wv = rand_tensor(m, &st, D * D, 0, aD)) && (L->bv = rand_tensor(m, &st, D, 0, 0.02f)) &&
			     (L->wo = rand_tensor(m, &st, D * D, 0, aD)) && (L->bo = rand_tensor(m, &st, D, 0, 0.02f)) &&
			     (L->ln2_w = rand_tensor(m, &st, D, 1, 0.1f)) && (L->ln2_b = rand_tensor(m, &st, D, 0, 0.02f)) &&
			     (L->up_w = rand_tensor(m, &st, Fv * D, 0, aD)) && (L->up_b = rand_tensor(m, &st, Fv, 0, 0.02f)) &&
			     (L->down_w = rand_tensor(m, &st, D * Fv, 0, aFv)) &&
			     (L->down_b = rand_tensor(m, &st, D, 0, 0.02f));
		}
		ok = ok && (m->post_ln_w = rand_tensor(m, &st, D, 1, 0.1f)) &&
		     (m->post_ln_b = rand_tensor(m, &st, D, 0, 0.02f));
		if (ok && vis->has_input_norm)
			ok = (m->mm_norm_w = rand_tensor(m, &st, U, 1, 0.1f)) &&
			     (m->mm_norm_b = rand_tensor(m, &st, U, 0, 0.02f));
		ok = ok && (m->mm1_w = rand_tensor(m, &st, P * U, 0, 1.0f / sqrtf((float)U))) &&
		     (m->mm1_b = rand_tensor(m, &st, P, 0, 0.02f)) &&
		     (m->mm2_w = rand_tensor(m, &st, d * P, 0, 1.0f / sqrtf((float)P))) &&
		     (m->mm2_b = rand_tensor(m, &st, d, 0, 0.02f)) && alloc_vision_scratch(m) == 0;
		m->has_vision = ok;
	}
	if (!ok) {
		ref_model_destroy(m);
		return -ENOMEM;
	}
	*out = m;
	return 0;
}

/* ---------------------------------------------------------------- ops */

/* y[r] = Σ_c W[r][c]·x[c], W [rows][cols]; f32 in four interleaved partial
 * sums (c mod 4) added at the end: as exact as one running sum and several
 * times faster, since the compiler may not reorder a float sum itself. */
static void matmul(float *y, const float *W, const float *x, size_t rows, size_t cols)
{
	for (size_t r = 0; r < rows; r++) {
		const float *w = W + r * cols;
		float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
		size_t c = 0;
		for (; c + 4 <= cols; c += 4) {
			a0 += w[c] * x[c];
			a1 += w[c + 1] * x[c + 1];
			a2 += w[c + 2] * x[c + 2];
			a3 += w[c + 3] * x[c + 3];
		}
		for (; c < cols; c++)
			a0 += w[c] * x[c];
		y[r] = (a0 + a1) + (a2 + a3);
	}
}

/* matmul plus a bias (vision and projector linears). */
static void linear(float *y, const float *W, const float *b, const float *x, size_t rows, size_t cols)
{
	matmul(y, W, x, rows, cols);
	for (size_t r = 0; r < rows; r++)
		y[r] += b[r];
}

void ref_rmsnorm(float *out, const float *x, const float *w, uint32_t n, float eps)
{
	double ss = 0.0; /* double: see the file comment */
	for (uint32_t i = 0; i < n; i++)
		ss += (double)x[i] * x[i];
	float scale = (float)(1.0 / sqrt(ss / n + eps));
	/* HF order: normalise, then multiply by the weight (not 1 + w). */
	for (uint32_t i = 0; i < n; i++)
		out[i] = w[i] * (x[i] * scale);
}

/* (x − μ)/sqrt(σ² + ε)·γ + β with population variance; stats in double. */
static void layernorm(float *out, const float *x, const float *g, const float *b, size_t n, float eps)
{
	double mean = 0.0, var = 0.0;
	for (size_t i = 0; i < n; i++)
		mean += x[i];
	mean /= (double)n;
	for (size_t i = 0; i < n; i++)
		var += ((double)x[i] - mean) * ((double)x[i] - mean);
	var /= (double)n;
	float rstd = (float)(1.0 / sqrt(var + eps));
	float mu = (float)mean;
	for (size_t i = 0; i < n; i++)
		out[i] = (x[i] - mu) * rstd * g[i] + b[i];
}

void ref_rope_neox(float *x, uint32_t head_dim, uint32_t pos, float theta)
{
	uint32_t half = head_dim / 2;
	for (uint32_t i = 0; i < half; i++) {
		/* HF profile: inv_freq = 1/base^(2i/hd) and p·inv_freq both in f32,
		 * as Lfm2RotaryEmbedding computes them; at p ≈ 300 an f32 angle
		 * differs from the exact one by ~1e-5 rad, so match it. */
		float inv_freq = 1.0f / powf(theta, (float)(2 * i) / (float)head_dim);
		float ang = (float)pos * inv_freq;
		float c = cosf(ang), s = sinf(ang);
		float a = x[i], b = x[i + half];
		x[i] = a * c - b * s;
		x[i + half] = b * c + a * s;
	}
}

void ref_shortconv_step(float *c, float *state, const float *s, const float *w, uint32_t d,
			uint32_t l_cache)
{
	for (uint32_t ch = 0; ch < d; ch++) {
		float acc = 0.0f;
		for (uint32_t k = 0; k + 1 < l_cache; k++)
			acc += w[(size_t)ch * l_cache + k] * state[(size_t)k * d + ch];
		acc += w[(size_t)ch * l_cache + l_cache - 1] * s[ch];
		c[ch] = acc;
	}
	/* Shift: the oldest row drops out, s becomes the newest. */
	if (l_cache >= 2) {
		memmove(state, state + d, (size_t)(l_cache - 2) * d * sizeof(float));
		memcpy(state + (size_t)(l_cache - 2) * d, s, d * sizeof(float));
	}
}

static void softmax(float *x, size_t n)
{
	float max = x[0];
	for (size_t i = 1; i < n; i++)
		max = x[i] > max ? x[i] : max;
	float sum = 0.0f;
	for (size_t i = 0; i < n; i++) {
		x[i] = expf(x[i] - max);
		sum += x[i];
	}
	for (size_t i = 0; i < n; i++)
		x[i] /= sum;
}

static float silu(float x)
{
	return x / (1.0f + expf(-x));
}

/* gelu_pytorch_tanh (vision MLP, spec §4.9). */
static float gelu_tanh(float x)
{
	const float k = 0.7978845608028654f; /* sqrt(2/π) */
	return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
}

/* Exact erf GELU (projector, HF profile, spec §4.10 D4). */
static float gelu_erf(float x)
{
	return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
}

/* ---------------------------------------------------------------- LM state */

int ref_state_create(const struct ref_model *m, uint32_t n_ctx, struct ref_state **out)
{
	*out = NULL;
	const struct lfm2_lm_hparams *h = &m->lm;
	if (n_ctx == 0 || n_ctx > (1u << 20))
		return -EINVAL;
	struct ref_state *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->n_ctx = n_ctx;
	s->conv_floats = h->l_cache >= 2 ? (size_t)(h->l_cache - 1) * h->d_model : 0;
	size_t d = h->d_model, nq = (size_t)h->n_head * h->head_dim, nk = (size_t)h->n_head_kv * h->head_dim;
	bool ok = true;
	for (uint32_t i = 0; i < h->n_layer && ok; i++) {
		if (h->is_attention[i]) {
			ok = (s->kcache[i] = calloc((size_t)n_ctx * nk, sizeof(float))) &&
			     (s->vcache[i] = calloc((size_t)n_ctx * nk, sizeof(float)));
		} else if (h->l_cache >= 2) {
			ok = (s->conv[i] = calloc((size_t)(h->l_cache - 1) * d, sizeof(float))) != NULL;
		}
	}
	ok = ok && (s->x = calloc(d, sizeof(float))) && (s->xb = calloc(d, sizeof(float))) &&
	     (s->xb2 = calloc(d, sizeof(float))) && (s->q = calloc(nq, sizeof(float))) &&
	     (s->o = calloc(nq, sizeof(float))) && (s->k = calloc(nk ? nk : 1, sizeof(float))) &&
	     (s->v = calloc(nk ? nk : 1, sizeof(float))) && (s->att = calloc(n_ctx, sizeof(float))) &&
	     (s->z = calloc(3 * d, sizeof(float))) && (s->hb = calloc(h->d_ff, sizeof(float))) &&
	     (s->hb2 = calloc(h->d_ff, sizeof(float)));
	if (!ok) {
		ref_state_destroy(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

void ref_state_destroy(struct ref_state *s)
{
	if (!s)
		return;
	for (int i = 0; i < LFM2_MAX_LAYERS; i++) {
		free(s->kcache[i]);
		free(s->vcache[i]);
		free(s->conv[i]);
	}
	free(s->x);
	free(s->xb);
	free(s->xb2);
	free(s->q);
	free(s->o);
	free(s->k);
	free(s->v);
	free(s->att);
	free(s->z);
	free(s->hb);
	free(s->hb2);
	free(s);
}

void ref_state_reset(struct ref_state *s)
{
	/* Positions past pos are never read, so only the conv states need
	 * clearing (zero history = HF's left zero padding). */
	s->pos = 0;
	for (int i = 0; i < LFM2_MAX_LAYERS; i++)
		if (s->conv[i])
			memset(s->conv[i], 0, s->conv_floats * sizeof(float));
}

/* ---------------------------------------------------------------- LM forward */

/* Gated short conv for one token (spec §3.5): xb → xb2. */
static void shortconv_block(const struct ref_model *m, struct ref_state *s, uint32_t l)
{
	const struct ref_lm_layer *L = &m->layers[l];
	uint32_t d = m->lm.d_model;
	float *B = s->z, *C = s->z + d, *X = s->z + 2 * (size_t)d;
	matmul(s->z, L->conv_in, s->xb, 3 * (size_t)d, d); /* z = [B | C | x] */
	for (uint32_t i = 0; i < d; i++)
		s->xb2[i] = B[i] * X[i]; /* s = B ⊙ x */
	ref_shortconv_step(B, s->conv[l], s->xb2, L->conv_w, d, m->lm.l_cache); /* B ← conv(s) */
	for (uint32_t i = 0; i < d; i++)
		B[i] = C[i] * B[i]; /* y = C ⊙ conv */
	matmul(s->xb2, L->conv_out, B, d, d);
}

/* GQA attention with QK-RMSNorm and NeoX RoPE for one token (spec §3.6): xb → xb2. */
static void attention_block(const struct ref_model *m, struct ref_state *s, uint32_t l)
{
	const struct lfm2_lm_hparams *h = &m->lm;
	const struct ref_lm_layer *L = &m->layers[l];
	uint32_t d = h->d_model, hd = h->head_dim, pos = s->pos;
	size_t nq = (size_t)h->n_head * hd, nk = (size_t)h->n_head_kv * hd;
	matmul(s->q, L->wq, s->xb, nq, d);
	matmul(s->k, L->wk, s->xb, nk, d);
	matmul(s->v, L->wv, s->xb, nk, d);
	for (uint32_t hh = 0; hh < h->n_head; hh++) {
		ref_rmsnorm(s->q + hh * hd, s->q + hh * hd, L->q_norm, hd, h->rms_eps);
		ref_rope_neox(s->q + hh * hd, hd, pos, h->rope_theta);
	}
	for (uint32_t g = 0; g < h->n_head_kv; g++) {
		ref_rmsnorm(s->k + g * hd, s->k + g * hd, L->k_norm, hd, h->rms_eps);
		ref_rope_neox(s->k + g * hd, hd, pos, h->rope_theta);
	}
	memcpy(s->kcache[l] + pos * nk, s->k, nk * sizeof(float));
	memcpy(s->vcache[l] + pos * nk, s->v, nk * sizeof(float));
	float scale = 1.0f / sqrtf((float)hd);
	uint32_t group = h->n_head / h->n_head_kv;
	for (uint32_t hh = 0; hh < h->n_head; hh++) {
		uint32_t g = hh / group;
		const float *q = s->q + hh * hd;
		for (uint32_t t = 0; t <= pos; t++) {
			const float *k = s->kcache[l] + t * nk + g * hd;
			float dot = 0.0f;
			for (uint32_t i = 0; i < hd; i++)
				dot += q[i] * k[i];
			s->att[t] = dot * scale;
		}
		softmax(s->att, pos + 1);
		float *o = s->o + hh * hd;
		memset(o, 0, hd * sizeof(float));
		for (uint32_t t = 0; t <= pos; t++) {
			const float *v = s->vcache[l] + t * nk + g * hd;
			for (uint32_t i = 0; i < hd; i++)
				o[i] += s->att[t] * v[i];
		}
	}
	matmul(s->xb2, L->wo, s->o, d, nq);
}

/* SwiGLU (spec §3.7): xb → xb2. */
static void ffn_block(const struct ref_model *m, struct ref_state *s, uint32_t l)
{
	const struct ref_lm_layer *L = &m->layers[l];
	uint32_t d = m->lm.d_model, F = m->lm.d_ff;
	matmul(s->hb, L->ffn_gate, s->xb, F, d);
	matmul(s->hb2, L->ffn_up, s->xb, F, d);
	for (uint32_t i = 0; i < F; i++)
		s->hb[i] = silu(s->hb[i]) * s->hb2[i];
	matmul(s->xb2, L->ffn_down, s->hb, d, F);
}

/* One position: input row in → logits (may be NULL). */
static void lm_step(const struct ref_model *m, struct ref_state *s, const float *in, float *logits)
{
	const struct lfm2_lm_hparams *h = &m->lm;
	uint32_t d = h->d_model;
	memcpy(s->x, in, d * sizeof(float));
	for (uint32_t l = 0; l < h->n_layer; l++) {
		const struct ref_lm_layer *L = &m->layers[l];
		ref_rmsnorm(s->xb, s->x, L->attn_norm, d, h->rms_eps); /* operator_norm */
		if (h->is_attention[l])
			attention_block(m, s, l);
		else
			shortconv_block(m, s, l);
		for (uint32_t i = 0; i < d; i++)
			s->x[i] += s->xb2[i];
		ref_rmsnorm(s->xb, s->x, L->ffn_norm, d, h->rms_eps);
		ffn_block(m, s, l);
		for (uint32_t i = 0; i < d; i++)
			s->x[i] += s->xb2[i];
	}
	if (logits) {
		ref_rmsnorm(s->xb, s->x, m->final_norm, d, h->rms_eps); /* token_embd_norm */
		matmul(logits, m->tok_embd, s->xb, h->n_vocab, d); /* tied head */
	}
	s->pos++;
}

/* Check ids and slot count: the rows must match the image slots exactly, as
 * HF's masked_scatter demands. */
static int check_inputs(const struct ref_model *m, const int32_t *ids, uint32_t n, const float *slot_rows,
			uint32_t n_slot_rows)
{
	uint32_t slots = 0;
	for (uint32_t t = 0; t < n; t++) {
		if (ids[t] < 0 || (uint32_t)ids[t] >= m->lm.n_vocab)
			return -EINVAL;
		slots += slot_rows && ids[t] == REF_IMAGE_TOKEN_ID;
	}
	return slot_rows && slots != n_slot_rows ? -EINVAL : 0;
}

static const float *input_row(const struct ref_model *m, int32_t id, const float *slot_rows, uint32_t *slot)
{
	if (slot_rows && id == REF_IMAGE_TOKEN_ID)
		return slot_rows + (size_t)(*slot)++ * m->lm.d_model;
	return m->tok_embd + (size_t)id * m->lm.d_model;
}

int ref_lm_forward(const struct ref_model *m, struct ref_state *s, const int32_t *ids, uint32_t n,
		   const float *slot_rows, uint32_t n_slot_rows, float *logits)
{
	int ret = check_inputs(m, ids, n, slot_rows, n_slot_rows);
	if (ret < 0)
		return ret;
	if (n > s->n_ctx - s->pos)
		return -ENOSPC;
	uint32_t slot = 0;
	for (uint32_t t = 0; t < n; t++)
		lm_step(m, s, input_row(m, ids[t], slot_rows, &slot),
			logits ? logits + (size_t)t * m->lm.n_vocab : NULL);
	return 0;
}

int ref_lm_forward_full(const struct ref_model *m, const int32_t *ids, uint32_t n, const float *slot_rows,
			uint32_t n_slot_rows, float *logits)
{
	const struct lfm2_lm_hparams *h = &m->lm;
	int ret = check_inputs(m, ids, n, slot_rows, n_slot_rows);
	if (ret < 0 || n == 0)
		return ret;
	size_t d = h->d_model, F = h->d_ff, hd = h->head_dim, T = n, K = h->l_cache;
	size_t nq = h->n_head * hd, nk = h->n_head_kv * hd;
	size_t wide = 3 * d > nq ? 3 * d : nq;
	float *X = calloc(T * d, sizeof(float));      /* [T][d] residual */
	float *Xn = calloc(T * d, sizeof(float));     /* [T][d] normed */
	float *Z = calloc(T * wide, sizeof(float));   /* [T][3d] in_proj, or [T][nq] queries */
	float *Kc = calloc(T * (nk ? nk : 1), sizeof(float)); /* [T][nk] */
	float *Vc = calloc(T * (nk ? nk : 1), sizeof(float)); /* [T][nk] */
	float *Y = calloc(T * (nq > d ? nq : d), sizeof(float)); /* [T][max(d, nq)] */
	float *H1 = calloc(F, sizeof(float)), *H2 = calloc(F, sizeof(float)); /* [F] */
	float *att = calloc(T, sizeof(float)); /* [T] */
	float *tmp = calloc(d, sizeof(float)); /* [d] */
	if (!X || !Xn || !Z || !Kc || !Vc || !Y || !H1 || !H2 || !att || !tmp) {
		ret = -ENOMEM;
		goto out;
	}
	uint32_t slot = 0;
	for (size_t t = 0; t < T; t++)
		memcpy(X + t * d, input_row(m, ids[t], slot_rows, &slot), d * sizeof(float));
	for (uint32_t l = 0; l < h->n_layer; l++) {
		const struct ref_lm_layer *L = &m->layers[l];
		for (size_t t = 0; t < T; t++)
			ref_rmsnorm(Xn + t * d, X + t * d, L->attn_norm, (uint32_t)d, h->rms_eps);
		if (!h->is_attention[l]) {
			/* HF: conv1d over the whole sequence with K−1 zeros on the left. */
			for (size_t t = 0; t < T; t++) {
				float *z = Z + t * wide;
				matmul(z, L->conv_in, Xn + t * d, 3 * d, d);
				for (size_t i = 0; i < d; i++)
					z[i] = z[i] * z[2 * d + i]; /* Bx, kept in the B third */
			}
			for (size_t t = 0; t < T; t++)
				for (size_t ch = 0; ch < d; ch++) {
					float acc = 0.0f;
					for (size_t k = 0; k < K; k++) {
						size_t back = K - 1 - k; /* tap K−1 = current token */
						if (t >= back)
							acc += L->conv_w[ch * K + k] * Z[(t - back) * wide + ch];
					}
					Y[t * d + ch] = Z[t * wide + d + ch] * acc; /* C ⊙ conv */
				}
			for (size_t t = 0; t < T; t++) {
				matmul(tmp, L->conv_out, Y + t * d, d, d);
				for (size_t i = 0; i < d; i++)
					X[t * d + i] += tmp[i];
			}
		} else {
			float scale = 1.0f / sqrtf((float)hd);
			size_t group = h->n_head / h->n_head_kv;
			for (size_t t = 0; t < T; t++) {
				float *q = Z + t * wide, *k = Kc + t * nk, *v = Vc + t * nk;
				matmul(q, L->wq, Xn + t * d, nq, d);
				matmul(k, L->wk, Xn + t * d, nk, d);
				matmul(v, L->wv, Xn + t * d, nk, d);
				for (size_t hh = 0; hh < h->n_head; hh++) {
					ref_rmsnorm(q + hh * hd, q + hh * hd, L->q_norm, (uint32_t)hd, h->rms_eps);
					ref_rope_neox(q + hh * hd, (uint32_t)hd, (uint32_t)t, h->rope_theta);
				}
				for (size_t g = 0; g < h->n_head_kv; g++) {
					ref_rmsnorm(k + g * hd, k + g * hd, L->k_norm, (uint32_t)hd, h->rms_eps);
					ref_rope_neox(k + g * hd, (uint32_t)hd, (uint32_t)t, h->rope_theta);
				}
			}
			for (size_t t = 0; t < T; t++)
				for (size_t hh = 0; hh < h->n_head; hh++) {
					size_t g = hh / group;
					const float *q = Z + t * wide + hh * hd;
					for (size_t u = 0; u <= t; u++) { /* causal mask */
						float dot = 0.0f;
						for (size_t i = 0; i < hd; i++)
							dot += q[i] * Kc[u * nk + g * hd + i];
						att[u] = dot * scale;
					}
					softmax(att, t + 1);
					float *o = Y + t * nq + hh * hd;
					memset(o, 0, hd * sizeof(float));
					for (size_t u = 0; u <= t; u++)
						for (size_t i = 0; i < hd; i++)
							o[i] += att[u] * Vc[u * nk + g * hd + i];
				}
			for (size_t t = 0; t < T; t++) {
				matmul(tmp, L->wo, Y + t * nq, d, nq);
				for (size_t i = 0; i < d; i++)
					X[t * d + i] += tmp[i];
			}
		}
		for (size_t t = 0; t < T; t++) {
			float *xn = Xn + t * d;
			ref_rmsnorm(xn, X + t * d, L->ffn_norm, (uint32_t)d, h->rms_eps);
			matmul(H1, L->ffn_gate, xn, F, d);
			matmul(H2, L->ffn_up, xn, F, d);
			for (size_t i = 0; i < F; i++)
				H1[i] = silu(H1[i]) * H2[i];
			matmul(tmp, L->ffn_down, H1, d, F);
			for (size_t i = 0; i < d; i++)
				X[t * d + i] += tmp[i];
		}
	}
	for (size_t t = 0; t < T; t++) {
		ref_rmsnorm(tmp, X + t * d, m->final_norm, (uint32_t)d, h->rms_eps);
		matmul(logits + t * h->n_vocab, m->tok_embd, tmp, h->n_vocab, d);
	}
out:
	free(X);
	free(Xn);
	free(Z);
	free(Kc);
	free(Vc);
	free(Y);
	free(H1);
	free(H2);
	free(att);
	free(tmp);
	return ret;
}

static int32_t argmax(const float *x, uint32_t n)
{
	uint32_t best = 0;
	for (uint32_t i = 1; i < n; i++)
		if (x[i] > x[best]) /* strict: the first maximum wins, like torch.argmax */
			best = i;
	return (int32_t)best;
}

int ref_greedy_continue(const struct ref_model *m, struct ref_state *s, const float *last_logits,
			uint32_t n_gen, int32_t *out)
{
	if (s->pos == 0 || n_gen > s->n_ctx - s->pos + 1)
		return -EINVAL;
	float *logits = malloc((size_t)m->lm.n_vocab * sizeof(float));
	if (!logits)
		return -ENOMEM;
	memcpy(logits, last_logits, (size_t)m->lm.n_vocab * sizeof(float));
	for (uint32_t i = 0; i < n_gen; i++) {
		out[i] = argmax(logits, m->lm.n_vocab);
		if (i + 1 < n_gen) /* the last token is never fed back */
			lm_step(m, s, m->tok_embd + (size_t)out[i] * m->lm.d_model, logits);
	}
	free(logits);
	return 0;
}

int ref_generate_greedy(const struct ref_model *m, struct ref_state *s, const int32_t *prompt,
			uint32_t n_prompt, const float *slot_rows, uint32_t n_slot_rows, uint32_t n_gen,
			int32_t *out)
{
	if (n_prompt == 0 || s->pos != 0)
		return -EINVAL;
	float *logits = malloc((size_t)m->lm.n_vocab * sizeof(float));
	if (!logits)
		return -ENOMEM;
	int ret = check_inputs(m, prompt, n_prompt, slot_rows, n_slot_rows);
	if (ret == 0 && (uint64_t)n_prompt + n_gen > s->n_ctx)
		ret = -ENOSPC;
	if (ret < 0)
		goto out;
	/* Only the last prompt position's logits are needed. */
	uint32_t slot = 0;
	for (uint32_t t = 0; t < n_prompt; t++)
		lm_step(m, s, input_row(m, prompt[t], slot_rows, &slot), t + 1 == n_prompt ? logits : NULL);
	ret = ref_greedy_continue(m, s, logits, n_gen, out);
out:
	free(logits);
	return ret;
}

/* ---------------------------------------------------------------- vision */

/* Antialiased bilinear weights, align_corners = False (spec §4.8): for each
 * output index o, taps w[o·n_in + j] over input j (zero outside the window). */
static void aa_weights(float *w, uint32_t n_in, uint32_t n_out)
{
	double scale = (double)n_in / n_out;
	double support = scale > 1.0 ? scale : 1.0;
	double inv = 1.0 / support;
	for (uint32_t o = 0; o < n_out; o++) {
		double center = (o + 0.5) * scale;
		long lo = (long)(center - support + 0.5), hi = (long)(center + support + 0.5);
		lo = lo < 0 ? 0 : lo;
		hi = hi > (long)n_in ? (long)n_in : hi;
		double sum = 0.0, tap[64];
		for (long j = lo; j < hi; j++) {
			double x = fabs((j - center + 0.5) * inv);
			tap[j - lo] = x < 1.0 ? 1.0 - x : 0.0;
			sum += tap[j - lo];
		}
		for (uint32_t j = 0; j < n_in; j++)
			w[(size_t)o * n_in + j] = 0.0f;
		for (long j = lo; j < hi; j++)
			w[(size_t)o * n_in + (size_t)j] = (float)(tap[j - lo] / sum);
	}
}

int ref_pos_embd_resize(const float *P0, uint32_t n, uint32_t D, uint32_t gh, uint32_t gw, float *P)
{
	if (n == 0 || n > 64 || gh == 0 || gw == 0)
		return -EINVAL;
	if (gh == n && gw == n) { /* identity: LCPP skips it, HF's is exact */
		memcpy(P, P0, (size_t)n * n * D * sizeof(float));
		return 0;
	}
	float *wx = calloc((size_t)gw * n, sizeof(float)), *wy = calloc((size_t)gh * n, sizeof(float));
	float *tmp = calloc((size_t)n * gw * D, sizeof(float)); /* [n][gw][D] */
	int ret = 0;
	if (!wx || !wy || !tmp) {
		ret = -ENOMEM;
		goto out;
	}
	aa_weights(wx, n, gw);
	aa_weights(wy, n, gh);
	for (uint32_t j = 0; j < n; j++)
		for (uint32_t x = 0; x < gw; x++)
			for (size_t c = 0; c < D; c++) {
				float acc = 0.0f;
				for (uint32_t i = 0; i < n; i++)
					acc += wx[(size_t)x * n + i] * P0[((size_t)j * n + i) * D + c];
				tmp[((size_t)j * gw + x) * D + c] = acc;
			}
	for (uint32_t y = 0; y < gh; y++)
		for (uint32_t x = 0; x < gw; x++)
			for (size_t c = 0; c < D; c++) {
				float acc = 0.0f;
				for (uint32_t j = 0; j < n; j++)
					acc += wy[(size_t)y * n + j] * tmp[((size_t)j * gw + x) * D + c];
				P[((size_t)y * gw + x) * D + c] = acc;
			}
out:
	free(wx);
	free(wy);
	free(tmp);
	return ret;
}

/* One pre-LN encoder layer over n patches (spec §4.9). */
static void vision_layer(struct ref_model *m, const struct ref_vision_layer *L, size_t n)
{
	const struct lfm2_vision_hparams *v = &m->vis;
	struct ref_vision_scratch *s = &m->vs;
	size_t D = v->width, Fv = v->d_ff, hd = v->width / v->n_head;
	float scale = 1.0f / sqrtf((float)hd);
	for (size_t t = 0; t < n; t++) {
		layernorm(s->xb + t * D, s->x + t * D, L->ln1_w, L->ln1_b, D, v->ln_eps);
		linear(s->q + t * D, L->wq, L->bq, s->xb + t * D, D, D);
		linear(s->k + t * D, L->wk, L->bk, s->xb + t * D, D, D);
		linear(s->v + t * D, L->wv, L->bv, s->xb + t * D, D, D);
	}
	for (size_t hh = 0; hh < v->n_head; hh++)
		for (size_t t = 0; t < n; t++) {
			const float *q = s->q + t * D + hh * hd;
			for (size_t u = 0; u < n; u++) { /* bidirectional over the crop */
				const float *k = s->k + u * D + hh * hd;
				float dot = 0.0f;
				for (size_t i = 0; i < hd; i++)
					dot += q[i] * k[i];
				s->att[u] = dot * scale;
			}
			softmax(s->att, n);
			float *o = s->o + t * D + hh * hd;
			memset(o, 0, hd * sizeof(float));
			for (size_t u = 0; u < n; u++)
				for (size_t i = 0; i < hd; i++)
					o[i] += s->att[u] * s->v[u * D + hh * hd + i];
		}
	for (size_t t = 0; t < n; t++) {
		linear(s->xb + t * D, L->wo, L->bo, s->o + t * D, D, D);
		for (size_t i = 0; i < D; i++)
			s->x[t * D + i] += s->xb[t * D + i];
	}
	for (size_t t = 0; t < n; t++) {
		float *hb = s->hb + t * Fv;
		layernorm(s->xb + t * D, s->x + t * D, L->ln2_w, L->ln2_b, D, v->ln_eps);
		linear(hb, L->up_w, L->up_b, s->xb + t * D, Fv, D);
		for (size_t i = 0; i < Fv; i++)
			hb[i] = gelu_tanh(hb[i]);
		linear(s->o + t * D, L->down_w, L->down_b, hb, D, Fv);
		for (size_t i = 0; i < D; i++)
			s->x[t * D + i] += s->o[t * D + i];
	}
}

int ref_vision_encode(struct ref_model *m, const uint8_t *rgb, uint32_t w, uint32_t h, uint32_t *crop_w,
		      uint32_t *crop_h, float *vision_out, float *proj_out)
{
	if (!m->has_vision)
		return -EINVAL;
	const struct lfm2_vision_hparams *v = &m->vis;
	struct ref_vision_scratch *s = &m->vs;
	struct image_plan_params pp;
	image_plan_params_default(&pp);
	pp.patch_size = v->patch_size;
	pp.downsample = v->scale_factor;
	/* A tiled size would need several crops: not what this function does. */
	if (image_plan_is_tiled(&pp, w, h))
		return -ENOTSUP;
	uint32_t cw, ch;
	int ret = image_plan_smart_resize(&pp, w, h, &cw, &ch);
	if (ret < 0)
		return ret;
	size_t p = v->patch_size, gw = cw / p, gh = ch / p, n = gw * gh, D = v->width;
	if (n > REF_MAX_PATCHES || gw % v->scale_factor || gh % v->scale_factor)
		return -EINVAL;
	const uint8_t *img = rgb;
	if (cw != w || ch != h) {
		ret = ref_image_resize_pil_bilinear(rgb, w, h, s->rgb, cw, ch);
		if (ret < 0)
			return ret;
		img = s->rgb;
	}
	*crop_w = cw;
	*crop_h = ch;

	/* Normalise, patchify in (ky, kx, c) order, embed, add positions. */
	ret = ref_pos_embd_resize(m->pos_embd, v->pos_grid, v->width, (uint32_t)gh, (uint32_t)gw, s->pos);
	if (ret < 0)
		return ret;
	for (size_t py = 0; py < gh; py++)
		for (size_t px = 0; px < gw; px++) {
			for (size_t ky = 0; ky < p; ky++)
				for (size_t kx = 0; kx < p; kx++)
					for (size_t c = 0; c < 3; c++) {
						uint8_t pix = img[((py * p + ky) * cw + px * p + kx) * 3 + c];
						s->patch[(ky * p + kx) * 3 + c] =
							(pix / 255.0f - v->image_mean[c]) / v->image_std[c];
					}
			size_t t = py * gw + px;
			linear(s->x + t * D, m->patch_w, m->patch_b, s->patch, D, p * p * 3);
			for (size_t i = 0; i < D; i++)
				s->x[t * D + i] += s->pos[t * D + i];
		}
	for (uint32_t l = 0; l < v->n_layer; l++)
		vision_layer(m, &m->vlayers[l], n);
	for (size_t t = 0; t < n; t++)
		layernorm(s->xb + t * D, s->x + t * D, m->post_ln_w, m->post_ln_b, D, v->ln_eps);
	if (vision_out)
		memcpy(vision_out, s->xb, n * D * sizeof(float));

	/* Projector (spec §4.10): pixel unshuffle, channel dy·(f·D) + dx·D + c. */
	size_t f = v->scale_factor, U = D * f * f, P = v->proj_hidden, d = m->lm.d_model;
	size_t ow = gw / f, oh = gh / f;
	for (size_t Y = 0; Y < oh && proj_out; Y++)
		for (size_t X = 0; X < ow; X++) {
			for (size_t dy = 0; dy < f; dy++)
				for (size_t dx = 0; dx < f; dx++)
					memcpy(s->u + dy * f * D + dx * D, s->xb + ((Y * f + dy) * gw + X * f + dx) * D,
					       D * sizeof(float));
			if (m->mm_norm_w)
				layernorm(s->u, s->u, m->mm_norm_w, m->mm_norm_b, U, v->proj_ln_eps);
			linear(s->t, m->mm1_w, m->mm1_b, s->u, P, U);
			for (size_t i = 0; i < P; i++)
				s->t[i] = gelu_erf(s->t[i]);
			linear(proj_out + (Y * ow + X) * d, m->mm2_w, m->mm2_b, s->t, d, P);
		}
	return 0;
}
