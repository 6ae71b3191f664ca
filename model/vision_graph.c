/* model/vision_graph.c — preprocessing, SigLIP2-NaFlex encoder and LFM2-VL
 * projector (spec §4) over struct vision_backend. See vision_graph.h. */
#include "model/vision_graph.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "model/gguf.h"
#include "model/quant.h"

#define V_ALIGN 256
#define PATCH_ELEMS 768 /* 16·16·3 */
#define VT "model.vision_tower."
#define MM "model.multi_modal_projector."

struct vision_layer {
	struct lm_tensor ln1_w, ln1_b, q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b;
	struct lm_tensor ln2_w, ln2_b, up_w, up_b, down_w, down_b;
	bool fused;                  /* qkv_w, qkv_b are views of q, k, v back to back */
	struct lm_tensor qkv_w, qkv_b;
};

struct vision_model {
	struct vision_backend be;
	struct lfm2_vision_hparams hp;
	void *weights;
	uint64_t weight_bytes;
	struct lm_tensor patch_w, patch_b;   /* [768, D] (c, ky, kx rows), [D] */
	struct lm_tensor post_w, post_b;
	struct lm_tensor norm_w, norm_b;     /* projector LayerNorm, when present */
	struct lm_tensor mm1_w, mm1_b, mm2_w, mm2_b;
	struct vision_layer *layers;         /* [n_layer] */
	float *pos0;                         /* host copy of v.position_embd [n_pos][D] */
};

/* One crop of one frame in the batch being encoded. */
struct crop {
	struct vision_image img;
	uint32_t gh, gw;    /* patch grid */
	uint32_t p0, t0;    /* first patch and first token in the batch */
};

/* One resize pass to record. */
struct pass {
	struct vision_image src, dst;
	struct vision_coeffs c;
	bool horizontal;
};

struct vision_ctx {
	struct vision_model *m;
	struct image_plan_params params;
	struct vision_budget cap;
	void *frames, *images, *coeffs, *pos;  /* UPLOAD, SCRATCH, UPLOAD, UPLOAD */
	void *act_mem[10];                     /* SCRATCH, one per activation */
	void *out;                             /* READBACK */
	void *segs;  /* UPLOAD: I32 crop starts [cap.crops + 1], then crops [4, cap.crops] */
	/* activations: columns are patches (or tokens) of the whole batch;
	 * q, k, v are views into qkv [3D, ..] */
	struct lm_tensor patches, x, xn, qkv, q, k, v, o, h;  /* [.., cap.patches] */
	struct lm_tensor u, t, y;                        /* [4D | P | d, cap.tokens] */
	struct crop *crops;
	struct pass *passes;
	uint32_t max_passes;
	int32_t *h_coeffs;     /* [cap.coeff_words] */
	GHashTable *pos_cache; /* (gh << 16 | gw) → float [gh·gw][D] */
};

static uint64_t align_up(uint64_t x)
{
	return (x + V_ALIGN - 1) / V_ALIGN * V_ALIGN;
}

static struct lm_tensor cols(const struct lm_tensor *t, uint32_t first, uint32_t n)
{
	struct lm_tensor v = *t;
	v.offset += (uint64_t)first * (t->row_stride ? t->row_stride : (uint64_t)t->ne[0] * 4);
	v.ne[1] = n;
	return v;
}

/* Rows [r0, r0 + n) of each column of t as a strided view. */
static struct lm_tensor rows_view(const struct lm_tensor *t, uint32_t r0, uint32_t n)
{
	struct lm_tensor v = *t;
	v.row_stride = t->row_stride ? t->row_stride : (uint64_t)t->ne[0] * 4;
	v.offset += (uint64_t)r0 * 4;
	v.ne[0] = n;
	return v;
}

/* a, b, c as one tensor [ne0, 3·ne1] (vectors: [3·ne0, 1]) when they lie
 * back to back. */
static bool stack3(const struct lm_tensor *a, const struct lm_tensor *b, const struct lm_tensor *c,
		   struct lm_tensor *out)
{
	uint64_t bytes;
	if (a->type != b->type || a->type != c->type || a->ne[0] != b->ne[0] ||
	    a->ne[0] != c->ne[0] || a->ne[1] != b->ne[1] || a->ne[1] != c->ne[1] ||
	    a->row_stride || b->row_stride || c->row_stride ||
	    tensor_row_bytes(a->type, a->ne[0], &bytes) < 0 || a->ne[0] > UINT32_MAX / 3 ||
	    a->ne[1] > UINT32_MAX / 3)
		return false;
	bytes *= a->ne[1];
	if (b->offset != a->offset + bytes || c->offset != b->offset + bytes)
		return false;
	*out = *a;
	if (a->ne[1] == 1) /* vectors (biases): one [3·ne0] row */
		out->ne[0] = 3 * a->ne[0];
	else
		out->ne[1] = 3 * a->ne[1];
	return true;
}

/* ---------------------------------------------------------------- model */

static int find(const struct gguf_file *f, const char *name, bool flat3, struct lm_weight *specs,
		size_t *n, struct lm_tensor *dst, char *err, size_t err_size)
{
	const struct gguf_tensor *t = gguf_find_tensor(f, name);
	if (!t) {
		snprintf(err, err_size, "tensor %s missing", name);
		return -EBADMSG;
	}
	/* hparams_read checked the shapes; the patch weight [16, 16, 3, D] is
	 * used as [768, D] (rows in (c, ky, kx) order). */
	uint64_t ne0 = flat3 ? t->ne[0] * t->ne[1] * t->ne[2] : t->ne[0];
	uint64_t ne1 = flat3 ? t->ne[3] : t->ne[1] * t->ne[2] * t->ne[3];
	if (ne0 > UINT32_MAX || ne1 > UINT32_MAX) {
		snprintf(err, err_size, "tensor %s too large", name);
		return -EBADMSG;
	}
	*dst = (struct lm_tensor){ .type = t->type, .ne = { (uint32_t)ne0, (uint32_t)ne1 } };
	specs[(*n)++] = (struct lm_weight){ dst, t };
	return 0;
}

int vision_model_create(const struct vision_backend *be, const struct gguf_file *f,
			struct vision_model **out, char *err, size_t err_size)
{
	char dummy[8];
	if (!err) {
		err = dummy;
		err_size = sizeof dummy;
	}
	*out = NULL;
	struct vision_model *m = g_new0(struct vision_model, 1);
	struct lm_weight *specs = NULL;
	size_t n = 0;
	int ret = lfm2_vision_hparams_read(f, &m->hp, err, err_size);
	if (ret < 0)
		goto fail;
	m->be = *be;
	if (!be->linear || !be->layer_norm || !be->attention || !be->pixel_unshuffle ||
	    !be->image_patches || !be->image_resize || !be->coeffs_size || !be->coeffs_fill ||
	    !be->pos_resize) {
		snprintf(err, err_size, "backend %s lacks a vision op", be->name);
		ret = -ENOTSUP;
		goto fail;
	}
	if (!m->hp.use_gelu || m->hp.patch_size != 16 || m->hp.scale_factor != 2) {
		snprintf(err, err_size, "mmproj: only use_gelu, patch 16 and scale factor 2 are supported");
		ret = -ENOTSUP;
		goto fail;
	}
	m->layers = g_new0(struct vision_layer, m->hp.n_layer);
	specs = g_new0(struct lm_weight, 12 + 16 * (size_t)m->hp.n_layer);
	char name[96];
	struct lm_tensor pos = { 0 };
#define FIND(dst, flat, ...) do { snprintf(name, sizeof name, __VA_ARGS__); \
		if ((ret = find(f, name, flat, specs, &n, dst, err, err_size)) < 0) goto fail; } while (0)
	FIND(&m->patch_w, true, "v.patch_embd.weight");
	FIND(&m->patch_b, false, "v.patch_embd.bias");
	FIND(&pos, false, "v.position_embd.weight");
	n--; /* kept on the host, not uploaded */
	FIND(&m->post_w, false, "v.post_ln.weight");
	FIND(&m->post_b, false, "v.post_ln.bias");
	if (m->hp.has_input_norm) {
		FIND(&m->norm_w, false, "mm.input_norm.weight");
		FIND(&m->norm_b, false, "mm.input_norm.bias");
	}
	FIND(&m->mm1_w, false, "mm.1.weight");
	FIND(&m->mm1_b, false, "mm.1.bias");
	FIND(&m->mm2_w, false, "mm.2.weight");
	FIND(&m->mm2_b, false, "mm.2.bias");
	for (uint32_t i = 0; i < m->hp.n_layer; i++) {
		struct vision_layer *L = &m->layers[i];
		FIND(&L->ln1_w, false, "v.blk.%u.ln1.weight", i);
		FIND(&L->ln1_b, false, "v.blk.%u.ln1.bias", i);
		/* q, k, v weights, then their biases, back to back: one GEMM */
		FIND(&L->q_w, false, "v.blk.%u.attn_q.weight", i);
		FIND(&L->k_w, false, "v.blk.%u.attn_k.weight", i);
		FIND(&L->v_w, false, "v.blk.%u.attn_v.weight", i);
		FIND(&L->q_b, false, "v.blk.%u.attn_q.bias", i);
		FIND(&L->k_b, false, "v.blk.%u.attn_k.bias", i);
		FIND(&L->v_b, false, "v.blk.%u.attn_v.bias", i);
		FIND(&L->o_w, false, "v.blk.%u.attn_out.weight", i);
		FIND(&L->o_b, false, "v.blk.%u.attn_out.bias", i);
		FIND(&L->ln2_w, false, "v.blk.%u.ln2.weight", i);
		FIND(&L->ln2_b, false, "v.blk.%u.ln2.bias", i);
		FIND(&L->up_w, false, "v.blk.%u.ffn_up.weight", i);
		FIND(&L->up_b, false, "v.blk.%u.ffn_up.bias", i);
		FIND(&L->down_w, false, "v.blk.%u.ffn_down.weight", i);
		FIND(&L->down_b, false, "v.blk.%u.ffn_down.bias", i);
	}
#undef FIND
	const struct gguf_tensor *pt = gguf_find_tensor(f, "v.position_embd.weight");
	if (pt->type != TENSOR_F32 || pt->n_bytes != (uint64_t)m->hp.n_pos * m->hp.width * 4) {
		snprintf(err, err_size, "v.position_embd.weight must be F32 [D, n_pos]");
		ret = -EBADMSG;
		goto fail;
	}
	m->pos0 = g_memdup2(pt->data, pt->n_bytes);
	ret = lm_weights_upload(be->ctx, be->name, be->alloc, be->write, be->flush, "vision-weights", specs,
				n, &m->weights, &m->weight_bytes, err, err_size);
	if (ret < 0)
		goto fail;
	for (uint32_t i = 0; i < m->hp.n_layer; i++) {
		struct vision_layer *L = &m->layers[i];
		L->fused = stack3(&L->q_w, &L->k_w, &L->v_w, &L->qkv_w) &&
			   stack3(&L->q_b, &L->k_b, &L->v_b, &L->qkv_b);
	}
	g_free(specs);
	*out = m;
	return 0;
fail:
	g_free(specs);
	vision_model_destroy(m);
	return ret;
}

void vision_model_destroy(struct vision_model *m)
{
	if (!m)
		return;
	if (m->weights)
		m->be.free(m->be.ctx, m->weights);
	g_free(m->layers);
	g_free(m->pos0);
	g_free(m);
}

const struct lfm2_vision_hparams *vision_model_hparams(const struct vision_model *m)
{
	return &m->hp;
}

uint64_t vision_model_weight_bytes(const struct vision_model *m)
{
	return m->weight_bytes;
}

/* ---------------------------------------------------------------- budget */

/* Image bytes and coefficient words of resizing w × h to tw × th
 * (horizontal pass first; a pass whose side does not change is skipped). */
static int resize_need(const struct vision_model *m, uint32_t w, uint32_t h, uint32_t tw,
		       uint32_t th, uint64_t *bytes, uint64_t *words)
{
	uint32_t ks;
	size_t wd;
	*bytes = *words = 0;
	if (tw != w) {
		if (m->be.coeffs_size(w, tw, &ks, &wd) < 0)
			return -EINVAL;
		*words += (wd + 63) / 64 * 64;
		*bytes += align_up((uint64_t)tw * h * 3);
	}
	if (th != h) {
		if (m->be.coeffs_size(h, th, &ks, &wd) < 0)
			return -EINVAL;
		*words += (wd + 63) / 64 * 64;
		*bytes += align_up((uint64_t)tw * th * 3);
	}
	return 0;
}

int vision_budget_add(const struct vision_model *m, const struct image_plan_params *p,
		      uint32_t width, uint32_t height, uint32_t channels, struct vision_budget *b)
{
	struct image_plan pl;
	int ret = image_plan_compute(p, width, height, &pl);
	if (ret < 0 || (channels != 3 && channels != 4))
		return -EINVAL;
	const uint32_t tile = p->tile_size, tp = tile / 16;
	uint64_t bytes, words, patches = (uint64_t)(pl.crop_w / 16) * (pl.crop_h / 16);
	b->frames++;
	b->crops += pl.n_crops;
	b->tokens += pl.n_embd;
	b->frame_bytes += align_up((uint64_t)width * height * channels);
	if (pl.tiled) {
		patches = (uint64_t)pl.grid_w * pl.grid_h * tp * tp +
			  (pl.has_thumbnail ? patches : 0);
		if (resize_need(m, width, height, tile * pl.grid_w, tile * pl.grid_h, &bytes, &words) < 0)
			return -EINVAL;
		b->image_bytes += bytes;
		b->coeff_words += words;
	}
	if (!pl.tiled || pl.has_thumbnail) {
		if (resize_need(m, width, height, pl.crop_w, pl.crop_h, &bytes, &words) < 0)
			return -EINVAL;
		b->image_bytes += bytes;
		b->coeff_words += words;
	}
	if (b->patches + patches > UINT32_MAX / 16)
		return -E2BIG;
	b->patches += (uint32_t)patches;
	return 0;
}

/* ---------------------------------------------------------------- context */

static void free_mem(struct vision_model *m, void *mem)
{
	if (mem)
		m->be.free(m->be.ctx, mem);
}

int vision_ctx_create(struct vision_model *m, const struct image_plan_params *p,
		      const struct vision_budget *b, struct vision_ctx **out)
{
	*out = NULL;
	if (b->frames == 0 || b->patches == 0)
		return -EINVAL;
	const struct vision_backend *be = &m->be;
	const struct lfm2_vision_hparams *hp = &m->hp;
	struct vision_ctx *c = g_new0(struct vision_ctx, 1);
	c->m = m;
	c->params = *p;
	c->cap = *b;
	const uint32_t N = b->patches, T = b->tokens, D = hp->width;
	/* One allocation per activation: a large batch's total exceeds what one
	 * allocation may hold (maxMemoryAllocationSize, 4 GiB on NVIDIA). */
	struct lm_tensor *acts[] = { &c->patches, &c->x, &c->xn, &c->qkv, &c->o, &c->h,
				     &c->u, &c->t };
	const uint32_t widths[] = { PATCH_ELEMS, D, D, 3 * D, D, hp->d_ff, 4 * D, hp->proj_hidden };
	int ret = 0;
	for (size_t i = 0; i < G_N_ELEMENTS(acts); i++) {
		const uint32_t cols_n = i < 6 ? N : T;
		*acts[i] = (struct lm_tensor){ .type = TENSOR_F32, .ne = { widths[i], cols_n } };
		if ((ret = be->alloc(be->ctx, LM_MEM_SCRATCH, (uint64_t)widths[i] * cols_n * 4, "vision-acts",
				     &c->act_mem[i])) < 0)
			goto fail;
		acts[i]->mem = c->act_mem[i];
	}
	c->q = rows_view(&c->qkv, 0, D);
	c->k = rows_view(&c->qkv, D, D);
	c->v = rows_view(&c->qkv, 2 * D, D);
	if ((ret = be->alloc(be->ctx, LM_MEM_UPLOAD, ((uint64_t)b->crops * 5 + 1) * 4, "vision-segs",
			     &c->segs)) < 0)
		goto fail;
	c->y = (struct lm_tensor){ .type = TENSOR_F32, .ne = { hp->projection_dim, T } };
	if ((ret = be->alloc(be->ctx, LM_MEM_READBACK, (uint64_t)hp->projection_dim * T * 4,
			     "vision-out", &c->out)) < 0 ||
	    (ret = be->alloc(be->ctx, LM_MEM_UPLOAD, b->frame_bytes, "vision-frames", &c->frames)) < 0 ||
	    (ret = be->alloc(be->ctx, LM_MEM_UPLOAD, (uint64_t)D * N * 4, "vision-pos", &c->pos)) < 0)
		goto fail;
	c->y.mem = c->out;
	if (b->image_bytes &&
	    (ret = be->alloc(be->ctx, LM_MEM_SCRATCH, b->image_bytes, "vision-images", &c->images)) < 0)
		goto fail;
	if (b->coeff_words &&
	    (ret = be->alloc(be->ctx, LM_MEM_UPLOAD, b->coeff_words * 4, "vision-coeffs", &c->coeffs)) < 0)
		goto fail;
	c->crops = g_new0(struct crop, b->crops);
	c->max_passes = 4 * b->frames;
	c->passes = g_new0(struct pass, c->max_passes);
	c->h_coeffs = g_new0(int32_t, b->coeff_words + 1);
	c->pos_cache = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
	*out = c;
	return 0;
fail:
	vision_ctx_destroy(c);
	return ret;
}

void vision_ctx_destroy(struct vision_ctx *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < G_N_ELEMENTS(c->act_mem); i++)
		free_mem(c->m, c->act_mem[i]);
	free_mem(c->m, c->out);
	free_mem(c->m, c->segs);
	free_mem(c->m, c->frames);
	free_mem(c->m, c->pos);
	free_mem(c->m, c->images);
	free_mem(c->m, c->coeffs);
	g_free(c->crops);
	g_free(c->passes);
	g_free(c->h_coeffs);
	if (c->pos_cache)
		g_hash_table_destroy(c->pos_cache);
	g_free(c);
}

const struct image_plan_params *vision_ctx_params(const struct vision_ctx *c)
{
	return &c->params;
}

/* ---------------------------------------------------------------- encode */

struct place {
	uint64_t frame, image, words;
	uint32_t crops, patches, tokens, passes;
	uint32_t max_crop; /* patches of the largest crop */
};

/* Queue the passes resizing src to tw × th; *dst gets the result (src
 * itself when nothing changes). */
static int plan_resize(struct vision_ctx *c, struct place *pl, const struct vision_image *src,
		       uint32_t tw, uint32_t th, struct vision_image *dst)
{
	const struct vision_backend *be = &c->m->be;
	struct vision_image cur = *src;
	for (int axis = 0; axis < 2; axis++) {
		bool hz = axis == 0;
		uint32_t n_in = hz ? cur.width : cur.height, n_out = hz ? tw : th;
		if (n_in == n_out)
			continue;
		uint32_t ks;
		size_t wd;
		if (be->coeffs_size(n_in, n_out, &ks, &wd) < 0)
			return -EINVAL;
		uint64_t wpad = (wd + 63) / 64 * 64;
		struct vision_image out = {
			.mem = c->images, .offset = pl->image, .channels = 3,
			.width = hz ? n_out : cur.width, .height = hz ? cur.height : n_out,
		};
		uint64_t bytes = align_up((uint64_t)out.width * out.height * 3);
		if (pl->words + wpad > c->cap.coeff_words || pl->image + bytes > c->cap.image_bytes ||
		    pl->passes >= c->max_passes)
			return -ENOSPC;
		int ret = be->coeffs_fill(n_in, n_out, c->h_coeffs + pl->words, wd);
		if (ret < 0)
			return ret;
		c->passes[pl->passes++] = (struct pass){
			.src = cur, .dst = out, .horizontal = hz,
			.c = { .mem = c->coeffs, .offset = pl->words * 4, .n_in = n_in, .n_out = n_out, .ksize = ks },
		};
		pl->words += wpad;
		pl->image += bytes;
		cur = out;
	}
	*dst = cur;
	return 0;
}

static int add_crop(struct vision_ctx *c, struct place *pl, const struct vision_image *img)
{
	if (pl->crops >= c->cap.crops)
		return -ENOSPC;
	uint32_t gh = img->height / 16, gw = img->width / 16;
	if ((uint64_t)pl->patches + gh * gw > c->cap.patches ||
	    (uint64_t)pl->tokens + gh * gw / 4 > c->cap.tokens)
		return -ENOSPC;
	c->crops[pl->crops++] = (struct crop){ .img = *img, .gh = gh, .gw = gw, .p0 = pl->patches, .t0 = pl->tokens };
	pl->patches += gh * gw;
	pl->tokens += gh * gw / 4;
	pl->max_crop = MAX(pl->max_crop, gh * gw);
	return 0;
}

/* The resized position table of a gh × gw grid, from the cache. */
static const float *pos_table(struct vision_ctx *c, uint32_t gh, uint32_t gw)
{
	gpointer key = GUINT_TO_POINTER(gh << 16 | gw);
	float *P = g_hash_table_lookup(c->pos_cache, key);
	if (P)
		return P;
	const struct lfm2_vision_hparams *hp = &c->m->hp;
	P = g_new(float, (size_t)gh * gw * hp->width);
	if (c->m->be.pos_resize(c->m->pos0, hp->pos_grid, hp->width, gh, gw, P) < 0) {
		g_free(P);
		return NULL;
	}
	g_hash_table_insert(c->pos_cache, key, P);
	return P;
}

static uint64_t crop_table_offset(const struct vision_ctx *c)
{
	return ((uint64_t)c->cap.crops + 1) * 4;
}

/* Frames → crops (and the resize passes making them), written to the device. */
static int prepare(struct vision_ctx *c, const struct vision_frame *frames, uint32_t n,
		   struct image_plan *plans, struct place *pl)
{
	const struct vision_backend *be = &c->m->be;
	const uint32_t tile = c->params.tile_size;
	int ret;
	memset(pl, 0, sizeof *pl);
	if (n > c->cap.frames)
		return -ENOSPC;
	for (uint32_t i = 0; i < n; i++) {
		const struct vision_frame *f = &frames[i];
		if (!f->pixels || (f->channels != 3 && f->channels != 4) || f->width == 0 || f->height == 0)
			return -EINVAL;
		const uint64_t row = (uint64_t)f->width * f->channels;
		const uint64_t stride = f->row_stride ? f->row_stride : row;
		if (stride < row)
			return -EINVAL;
		struct image_plan *p = &plans[i];
		if ((ret = image_plan_compute(&c->params, f->width, f->height, p)) < 0)
			return ret;
		if (pl->frame + row * f->height > c->cap.frame_bytes)
			return -ENOSPC;
		struct vision_image src = { .mem = c->frames, .offset = pl->frame, .width = f->width,
					    .height = f->height, .channels = f->channels };
		if (stride == row) {
			ret = be->write(be->ctx, c->frames, pl->frame, f->pixels, row * f->height);
		} else {
			for (uint32_t y = 0; y < f->height && ret == 0; y++)
				ret = be->write(be->ctx, c->frames, pl->frame + y * row,
						f->pixels + y * stride, row);
		}
		if (ret < 0)
			return ret;
		pl->frame += align_up(row * f->height);
		struct vision_image img;
		if (p->tiled) {
			if ((ret = plan_resize(c, pl, &src, tile * p->grid_w, tile * p->grid_h, &img)) < 0)
				return ret;
			/* tiles are views into the resized image, row-major (§4.4) */
			for (uint32_t r = 0; r < p->grid_h; r++)
				for (uint32_t col = 0; col < p->grid_w; col++) {
					uint64_t st = img.row_stride ? img.row_stride : (uint64_t)img.width * img.channels;
					struct vision_image t = img;
					t.offset += (uint64_t)r * tile * st + (uint64_t)col * tile * img.channels;
					t.width = t.height = tile;
					t.row_stride = st;
					if ((ret = add_crop(c, pl, &t)) < 0)
						return ret;
				}
		}
		if (!p->tiled || p->has_thumbnail) {
			if ((ret = plan_resize(c, pl, &src, p->crop_w, p->crop_h, &img)) < 0 ||
			    (ret = add_crop(c, pl, &img)) < 0)
				return ret;
		}
	}
	if (pl->words && (ret = be->write(be->ctx, c->coeffs, 0, c->h_coeffs, pl->words * 4)) < 0)
		return ret;
	const uint32_t D = c->m->hp.width;
	/* the attention's crop starts, then the unshuffle's crop table */
	int32_t *seg = g_new(int32_t, pl->crops + 1), *tab = g_new(int32_t, 4 * (size_t)pl->crops);
	for (uint32_t i = 0; i < pl->crops; i++) {
		const struct crop *cr = &c->crops[i];
		seg[i] = (int32_t)cr->p0;
		tab[4 * i] = (int32_t)cr->p0;
		tab[4 * i + 1] = (int32_t)cr->t0;
		tab[4 * i + 2] = (int32_t)cr->gw;
		tab[4 * i + 3] = (int32_t)(cr->gh * cr->gw / 4);
	}
	seg[pl->crops] = (int32_t)pl->patches;
	ret = be->write(be->ctx, c->segs, 0, seg, ((uint64_t)pl->crops + 1) * 4);
	if (ret == 0)
		ret = be->write(be->ctx, c->segs, crop_table_offset(c), tab, (uint64_t)pl->crops * 16);
	g_free(seg);
	g_free(tab);
	if (ret < 0)
		return ret;
	for (uint32_t i = 0; i < pl->crops; i++) {
		const struct crop *cr = &c->crops[i];
		const float *P = pos_table(c, cr->gh, cr->gw);
		if (!P)
			return -ENOMEM;
		ret = be->write(be->ctx, c->pos, (uint64_t)cr->p0 * D * 4, P, (uint64_t)cr->gh * cr->gw * D * 4);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int encoder_layer(struct vision_ctx *c, uint32_t l, uint32_t np, const struct place *pl)
{
	const struct vision_backend *be = &c->m->be;
	const struct vision_layer *L = &c->m->layers[l];
	const float eps = c->m->hp.ln_eps;
	struct lm_tensor x = cols(&c->x, 0, np), xn = cols(&c->xn, 0, np), q = cols(&c->q, 0, np),
			 k = cols(&c->k, 0, np), v = cols(&c->v, 0, np), o = cols(&c->o, 0, np),
			 h = cols(&c->h, 0, np);
	char lb[128];
	int ret;
#define LB(s) (snprintf(lb, sizeof lb, VT "encoder.layers.%u." s, l), lb)
	if ((ret = be->layer_norm(be->ctx, LB("layer_norm1"), &x, &L->ln1_w, &L->ln1_b, eps, &xn)) < 0)
		return ret;
	if (L->fused) {
		struct lm_tensor qkv = cols(&c->qkv, 0, np);
		ret = be->linear(be->ctx, LB("self_attn.qkv_proj"), &L->qkv_w, &xn, &L->qkv_b, NULL,
				 VISION_ACT_NONE, &qkv);
	} else if ((ret = be->linear(be->ctx, LB("self_attn.q_proj"), &L->q_w, &xn, &L->q_b, NULL, VISION_ACT_NONE, &q)) == 0 &&
		   (ret = be->linear(be->ctx, LB("self_attn.k_proj"), &L->k_w, &xn, &L->k_b, NULL, VISION_ACT_NONE, &k)) == 0) {
		ret = be->linear(be->ctx, LB("self_attn.v_proj"), &L->v_w, &xn, &L->v_b, NULL, VISION_ACT_NONE, &v);
	}
	if (ret < 0)
		return ret;
	struct lm_tensor segs = { .mem = c->segs, .type = LM_TYPE_I32, .ne = { pl->crops + 1, 1 } };
	if ((ret = be->attention(be->ctx, LB("self_attn"), &q, &k, &v, c->m->hp.n_head, &segs,
				 pl->max_crop, &o)) < 0)
		return ret;
	if ((ret = be->linear(be->ctx, LB("self_attn.out_proj"), &L->o_w, &o, &L->o_b, &x, VISION_ACT_NONE, &x)) < 0 ||
	    (ret = be->layer_norm(be->ctx, LB("layer_norm2"), &x, &L->ln2_w, &L->ln2_b, eps, &xn)) < 0 ||
	    (ret = be->linear(be->ctx, LB("mlp.fc1"), &L->up_w, &xn, &L->up_b, NULL, VISION_ACT_GELU_TANH, &h)) < 0 ||
	    (ret = be->linear(be->ctx, LB("mlp.fc2"), &L->down_w, &h, &L->down_b, &x, VISION_ACT_NONE, &x)) < 0)
		return ret;
#undef LB
	return 0;
}

static int record(struct vision_ctx *c, const struct place *pl)
{
	const struct vision_backend *be = &c->m->be;
	const struct vision_model *m = c->m;
	const uint32_t np = pl->patches, nt = pl->tokens;
	int ret;
	for (uint32_t i = 0; i < pl->passes; i++) {
		const struct pass *ps = &c->passes[i];
		if ((ret = be->image_resize(be->ctx, "image_processor.resize", &ps->src, &ps->c,
					    ps->horizontal, &ps->dst)) < 0)
			return ret;
	}
	for (uint32_t i = 0; i < pl->crops; i++) {
		const struct crop *cr = &c->crops[i];
		struct lm_tensor p = cols(&c->patches, cr->p0, cr->gh * cr->gw);
		if ((ret = be->image_patches(be->ctx, "image_processor.patches", &cr->img, m->hp.image_mean,
					     m->hp.image_std, &p)) < 0)
			return ret;
	}
	struct lm_tensor patches = cols(&c->patches, 0, np), x = cols(&c->x, 0, np);
	struct lm_tensor pos = { .mem = c->pos, .type = TENSOR_F32, .ne = { m->hp.width, np } };
	if ((ret = be->linear(be->ctx, VT "embeddings.patch_embedding", &m->patch_w, &patches,
			      &m->patch_b, &pos, VISION_ACT_NONE, &x)) < 0)
		return ret;
	for (uint32_t l = 0; l < m->hp.n_layer; l++)
		if ((ret = encoder_layer(c, l, np, pl)) < 0)
			return ret;
	if ((ret = be->layer_norm(be->ctx, VT "post_layernorm", &x, &m->post_w, &m->post_b,
				  m->hp.ln_eps, &x)) < 0)
		return ret;
	struct lm_tensor u = cols(&c->u, 0, nt), t = cols(&c->t, 0, nt), y = cols(&c->y, 0, nt);
	struct lm_tensor tab = { .mem = c->segs, .offset = crop_table_offset(c), .type = LM_TYPE_I32,
				 .ne = { 4, pl->crops } };
	if ((ret = be->pixel_unshuffle(be->ctx, MM "pixel_unshuffle", &x, &tab, pl->max_crop / 4, &u)) < 0)
		return ret;
	if (m->hp.has_input_norm &&
	    (ret = be->layer_norm(be->ctx, MM "layer_norm", &u, &m->norm_w, &m->norm_b,
				  m->hp.proj_ln_eps, &u)) < 0)
		return ret;
	if ((ret = be->linear(be->ctx, MM "linear_1", &m->mm1_w, &u, &m->mm1_b, NULL,
			      VISION_ACT_GELU_ERF, &t)) < 0 ||
	    (ret = be->linear(be->ctx, MM "linear_2", &m->mm2_w, &t, &m->mm2_b, NULL,
			      VISION_ACT_NONE, &y)) < 0)
		return ret;
	return 0;
}

int vision_ctx_encode(struct vision_ctx *c, const struct vision_frame *frames, uint32_t n,
		      float *rows, uint32_t n_rows, struct image_plan *plans,
		      float *tower, uint32_t n_tower_rows)
{
	const struct vision_backend *be = &c->m->be;
	if (n == 0 || !frames || !rows)
		return -EINVAL;
	struct image_plan *own = plans ? NULL : g_new0(struct image_plan, n);
	struct place pl;
	int ret = prepare(c, frames, n, plans ? plans : own, &pl);
	if (ret == 0 && n_rows != pl.tokens)
		ret = -EINVAL;
	if (ret == 0 && tower && n_tower_rows != pl.patches)
		ret = -EINVAL;
	if (ret == 0)
		ret = be->begin(be->ctx);
	if (ret == 0) {
		ret = record(c, &pl);
		int r2 = be->submit_wait(be->ctx);
		ret = ret < 0 ? ret : r2;
	}
	const uint32_t d = c->m->hp.projection_dim, D = c->m->hp.width;
	if (ret == 0)
		ret = be->read(be->ctx, c->out, 0, rows, (uint64_t)pl.tokens * d * 4);
	if (ret == 0 && tower)
		ret = be->read(be->ctx, c->x.mem, c->x.offset, tower, (uint64_t)pl.patches * D * 4);
	g_free(own);
	return ret;
}
