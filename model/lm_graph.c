/* model/lm_graph.c — the LFM2 decoder graph (spec §3) and the sequence API
 * over struct lm_backend. See lm_graph.h for the contract. */
#include "model/lm_graph.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "model/gguf.h"
#include "model/quant.h"

#define LM_ALIGN 256 /* offsets of tensors inside one allocation */
#define LM_PREFIX "model.language_model."

struct lm_layer {
	struct lm_tensor attn_norm, ffn_norm, ffn_gate, ffn_up, ffn_down;
	struct lm_tensor conv_in, conv_w, conv_out;        /* conv layers */
	struct lm_tensor wq, wk, wv, wo, q_norm, k_norm;   /* attention layers */
	struct lm_tensor wqkv; /* wq | wk | wv as one [d, nq + 2·nk] when adjacent in memory */
	bool has_wqkv;
};

struct lm_model {
	struct lm_backend be;
	struct lfm2_lm_hparams hp;
	void *weights;          /* one WEIGHTS allocation */
	uint64_t weight_bytes;
	struct lm_tensor tok_embd;   /* [d, V], also the tied head */
	struct lm_tensor final_norm; /* [d] token_embd_norm */
	struct lm_layer layers[LFM2_MAX_LAYERS];
};

struct lm_seq {
	struct lm_ctx *ctx;
	uint32_t slot;
	uint32_t pos;
	bool used;
	bool busy; /* appears in the step being built */
};

/* Activations, [width, max_rows] F32 each (logit rows: [.., max_logit_rows]). */
struct lm_acts {
	struct lm_tensor x, xb, y, z, qkv, q, k, v, o, g, u, sel; /* q, k, v: views of qkv */
	struct lm_tensor logits_dev; /* device-local logits when only the argmax is read */
	struct lm_tensor ids, img_pos, toks, seqs, out_idx, img; /* upload */
	struct lm_tensor logits, next;                            /* readback */
	struct lm_tensor cand_bits, cand;                          /* candidates: upload, readback */
};

struct lm_ctx {
	struct lm_model *m;
	uint32_t n_slots, n_ctx;
	uint32_t kv_type;
	uint64_t kv_bytes;
	uint32_t max_rows, max_logit_rows;
	void *pool, *scratch, *upload, *readback;
	uint64_t pool_bytes, scratch_bytes, upload_bytes, readback_bytes;
	struct lm_kv kv[LFM2_MAX_LAYERS];
	struct lm_tensor conv[LFM2_MAX_LAYERS]; /* [(L−1)·d, n_slots] */
	struct lm_acts a;
	struct lm_seq *seqs;   /* [n_slots] */
	/* Host copies of the per-step inputs, sized at create. */
	int32_t *h_ids, *h_img, *h_out, *h_toks, *h_seqs, *h_next;
	float *h_imgrows;      /* [max_rows][d] */
	float *zero_state;     /* [(L−1)·d] to reset a conv slot */
	float *h_row;          /* [V] one logit row for the host argmax */
	/* Device-resident greedy chunks (lm_ctx_decode_greedy): the tables of
	 * LM_CHAIN_MAX one-row-per-sequence steps, written once per chunk, and
	 * the argmax of step j, which step j + 1's embedding lookup reads. */
	void *chain_up, *chain_rb;
	struct lm_tensor chain_toks, chain_seqs; /* [FIELDS, LM_CHAIN_MAX·max_logit_rows] */
	struct lm_tensor chain_ids;              /* I32 [LM_CHAIN_MAX·max_logit_rows] */
	int32_t *h_chain_toks, *h_chain_seqs, *h_chain_ids;
};

static uint64_t align_up(uint64_t x)
{
	return (x + LM_ALIGN - 1) / LM_ALIGN * LM_ALIGN;
}

static uint64_t t_bytes(const struct lm_tensor *t)
{
	if (t->type == LM_TYPE_I32)
		return (uint64_t)t->ne[0] * t->ne[1] * 4;
	uint64_t row = 0;
	if (tensor_row_bytes(t->type, t->ne[0], &row) < 0)
		return 0;
	return row * t->ne[1];
}

/* A contiguous [ne0, ne1] view at *cursor in mem; advances the cursor. */
static struct lm_tensor place(void *mem, uint64_t *cursor, uint32_t type, uint32_t ne0, uint32_t ne1)
{
	struct lm_tensor t = { .mem = mem, .offset = *cursor, .type = type, .ne = { ne0, ne1 } };
	*cursor = align_up(*cursor + t_bytes(&t));
	return t;
}

/* Rows [first, first + n) of a contiguous F32/I32 tensor, as [ne0, n]. */
static struct lm_tensor rows_of(const struct lm_tensor *t, uint32_t first, uint32_t n)
{
	struct lm_tensor v = *t;
	v.offset += (uint64_t)first * t->ne[0] * 4;
	v.ne[1] = n;
	return v;
}

/* ---------------------------------------------------------------- model */

int lm_weights_upload(void *ctx, const char *backend_name,
		      int (*alloc)(void *ctx, enum lm_mem_kind kind, uint64_t bytes, const char *name, void **mem),
		      int (*write)(void *ctx, void *mem, uint64_t offset, const void *src, uint64_t bytes),
		      int (*flush)(void *ctx), const char *label, struct lm_weight *w, size_t n,
		      void **mem, uint64_t *bytes, char *err, size_t err_size)
{
	uint64_t cursor = 0;
	for (size_t i = 0; i < n; i++) {
		w[i].dst->offset = cursor;
		cursor = align_up(cursor + w[i].src->n_bytes);
	}
	*bytes = cursor;
	int ret = alloc(ctx, LM_MEM_WEIGHTS, cursor, label, mem);
	if (ret < 0) {
		snprintf(err, err_size, "%s: cannot allocate %llu bytes of weights", backend_name,
			 (unsigned long long)cursor);
		return ret;
	}
	for (size_t i = 0; i < n; i++) {
		w[i].dst->mem = *mem;
		ret = write(ctx, *mem, w[i].dst->offset, w[i].src->data, w[i].src->n_bytes);
		if (ret < 0) {
			snprintf(err, err_size, "upload of %s failed", w[i].src->name);
			return ret;
		}
	}
	ret = flush(ctx);
	if (ret < 0)
		snprintf(err, err_size, "weights upload failed");
	return ret;
}

static int find(const struct gguf_file *f, const char *name, struct lm_weight *specs, size_t *n,
		struct lm_tensor *dst, char *err, size_t err_size)
{
	const struct gguf_tensor *t = gguf_find_tensor(f, name);
	if (!t || t->ne[1] > UINT32_MAX || t->ne[0] > UINT32_MAX) {
		snprintf(err, err_size, "tensor %s missing", name);
		return -EBADMSG;
	}
	*dst = (struct lm_tensor){ .type = t->type, .ne = { (uint32_t)t->ne[0], (uint32_t)(t->ne[1] * t->ne[2] * t->ne[3]) } };
	specs[(*n)++] = (struct lm_weight){ dst, t };
	return 0;
}

int lm_model_create(const struct lm_backend *be, const struct gguf_file *f, struct lm_model **out,
		    char *err, size_t err_size)
{
	char dummy[8];
	if (!err) {
		err = dummy;
		err_size = sizeof dummy;
	}
	*out = NULL;
	struct lm_model *m = g_new0(struct lm_model, 1);
	struct lm_weight *specs = g_new0(struct lm_weight, 2 + 14 * LFM2_MAX_LAYERS);
	size_t n = 0;
	int ret = lfm2_lm_hparams_read(f, &m->hp, err, err_size);
	if (ret < 0)
		goto fail;
	m->be = *be;
	const struct { bool ok; const char *name; } need[] = {
		{ be->get_rows != NULL, "get_rows" }, { be->set_rows != NULL, "set_rows" },
		{ be->mul_mat != NULL, "mul_mat" }, { be->rms_norm != NULL, "rms_norm" },
		{ be->add != NULL, "add" }, { be->swiglu != NULL, "swiglu" },
		{ be->shortconv != NULL, "shortconv" }, { be->qk_norm_rope_kv != NULL, "qk_norm_rope_kv" },
		{ be->attention != NULL, "attention" },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(need); i++)
		if (!need[i].ok) {
			snprintf(err, err_size, "backend %s has no %s op", be->name, need[i].name);
			ret = -ENOTSUP;
			goto fail;
		}
	char name[96];
#define FIND(dst, ...) do { snprintf(name, sizeof name, __VA_ARGS__); \
		if ((ret = find(f, name, specs, &n, dst, err, err_size)) < 0) goto fail; } while (0)
	FIND(&m->tok_embd, "token_embd.weight");
	FIND(&m->final_norm, "token_embd_norm.weight");
	for (uint32_t i = 0; i < m->hp.n_layer; i++) {
		struct lm_layer *L = &m->layers[i];
		FIND(&L->attn_norm, "blk.%u.attn_norm.weight", i);
		FIND(&L->ffn_norm, "blk.%u.ffn_norm.weight", i);
		FIND(&L->ffn_gate, "blk.%u.ffn_gate.weight", i);
		FIND(&L->ffn_up, "blk.%u.ffn_up.weight", i);
		FIND(&L->ffn_down, "blk.%u.ffn_down.weight", i);
		if (m->hp.is_attention[i]) {
			FIND(&L->wq, "blk.%u.attn_q.weight", i);
			FIND(&L->wk, "blk.%u.attn_k.weight", i);
			FIND(&L->wv, "blk.%u.attn_v.weight", i);
			FIND(&L->wo, "blk.%u.attn_output.weight", i);
			FIND(&L->q_norm, "blk.%u.attn_q_norm.weight", i);
			FIND(&L->k_norm, "blk.%u.attn_k_norm.weight", i);
		} else {
			FIND(&L->conv_in, "blk.%u.shortconv.in_proj.weight", i);
			FIND(&L->conv_w, "blk.%u.shortconv.conv.weight", i);
			FIND(&L->conv_out, "blk.%u.shortconv.out_proj.weight", i);
		}
	}
#undef FIND
	/* hparams_read checked shapes and types; place everything in one block. */
	ret = lm_weights_upload(be->ctx, be->name, be->alloc, be->write, be->flush, "lm-weights", specs, n,
				&m->weights, &m->weight_bytes, err, err_size);
	if (ret < 0)
		goto fail;
	/* q, k and v projections are placed back to back in file order: one
	 * matrix of nq + 2·nk rows then, one product instead of three. */
	for (uint32_t i = 0; i < m->hp.n_layer; i++) {
		struct lm_layer *L = &m->layers[i];
		if (!m->hp.is_attention[i] || L->wk.type != L->wq.type || L->wv.type != L->wq.type ||
		    L->wk.offset != L->wq.offset + t_bytes(&L->wq) ||
		    L->wv.offset != L->wk.offset + t_bytes(&L->wk))
			continue;
		L->wqkv = L->wq;
		L->wqkv.ne[1] = L->wq.ne[1] + L->wk.ne[1] + L->wv.ne[1];
		L->has_wqkv = true;
	}
	g_free(specs);
	*out = m;
	return 0;
fail:
	g_free(specs);
	lm_model_destroy(m);
	return ret;
}

void lm_model_destroy(struct lm_model *m)
{
	if (!m)
		return;
	if (m->weights)
		m->be.free(m->be.ctx, m->weights);
	g_free(m);
}

const struct lfm2_lm_hparams *lm_model_hparams(const struct lm_model *m)
{
	return &m->hp;
}

uint64_t lm_model_weight_bytes(const struct lm_model *m)
{
	return m->weight_bytes;
}

/* ---------------------------------------------------------------- graph */

/* What one step's graph works on: the rows of the batch and the context. */
struct lm_graph {
	const struct lm_backend *be;
	const struct lm_model *m;
	struct lm_ctx *c;
	struct lm_batch batch;
	uint32_t n_img;   /* image-slot rows this step */
	uint32_t n_out;   /* rows that want logits */
	bool want_next;   /* device argmax of the logit rows */
	bool want_logits; /* logits read back (else, with want_next, kept on the device) */
	const struct lm_cand_params *cand; /* sampling candidates of the logit rows */
	const struct lm_tensor *ids_in;   /* token ids (NULL: the upload's) */
	const struct lm_tensor *next_out; /* argmax out (NULL: the readback's) */
	uint32_t fuse;    /* LM_FUSE_* made this step (0: the plain ops) */
	char label[96];
};

static const char *lbl(struct lm_graph *G, uint32_t layer, const char *what)
{
	snprintf(G->label, sizeof G->label, LM_PREFIX "layers.%u.%s", layer, what);
	return G->label;
}

#define TRY(call) do { int r_ = (call); if (r_ < 0) return r_; } while (0)

/* y = W·x with the neighbours of f folded in (when G->fuse has the fusion). */
static int fused(struct lm_graph *G, const char *label, const struct lm_tensor *w,
		 const struct lm_tensor *x, const struct lm_tensor *norm, const struct lm_tensor *up,
		 const struct lm_tensor *residual, const struct lm_tensor *y)
{
	const struct lm_backend *be = G->be;
	struct lm_fusion f = { .norm = norm, .eps = G->m->hp.rms_eps, .up = up, .residual = residual };
	return be->mul_mat_fused(be->ctx, label, w, x, &f, y);
}

/* x += ShortConv(u), spec §3.5, u = operator_norm(x) in xb. */
static int shortconv_block(struct lm_graph *G, uint32_t il)
{
	const struct lm_backend *be = G->be;
	const struct lm_layer *L = &G->m->layers[il];
	struct lm_acts *a = &G->c->a;
	uint32_t T = G->batch.n_tok;
	struct lm_tensor xb = rows_of(&a->xb, 0, T), x = rows_of(&a->x, 0, T);
	struct lm_tensor z = rows_of(&a->z, 0, T), y = rows_of(&a->y, 0, T);
	if (G->fuse & LM_FUSE_NORM) /* operator_norm folded in */
		TRY(fused(G, lbl(G, il, "conv.in_proj"), &L->conv_in, &x, &L->attn_norm, NULL, NULL, &z));
	else
		TRY(be->mul_mat(be->ctx, lbl(G, il, "conv.in_proj"), &L->conv_in, &xb, &z)); /* [3d, T] B|C|X */
	TRY(be->shortconv(be->ctx, lbl(G, il, "conv.conv"), &z, &L->conv_w, &G->c->conv[il], &G->batch,
			  &y));                                                       /* [d, T] C⊙conv(B⊙X) */
	if (G->fuse & LM_FUSE_RESIDUAL) /* the residual folded in */
		return fused(G, lbl(G, il, "conv.out_proj"), &L->conv_out, &y, NULL, NULL, &x, &x);
	TRY(be->mul_mat(be->ctx, lbl(G, il, "conv.out_proj"), &L->conv_out, &y, &xb));
	return be->add(be->ctx, lbl(G, il, "conv.residual"), &x, &xb, &x);
}

/* x += Attention(u), spec §3.6, u in xb. */
static int attn_block(struct lm_graph *G, uint32_t il)
{
	const struct lm_backend *be = G->be;
	const struct lfm2_lm_hparams *hp = &G->m->hp;
	const struct lm_layer *L = &G->m->layers[il];
	struct lm_acts *a = &G->c->a;
	uint32_t T = G->batch.n_tok;
	struct lm_tensor xb = rows_of(&a->xb, 0, T), x = rows_of(&a->x, 0, T);
	struct lm_tensor q = rows_of(&a->q, 0, T), k = rows_of(&a->k, 0, T), v = rows_of(&a->v, 0, T);
	struct lm_tensor o = rows_of(&a->o, 0, T), qkv = rows_of(&a->qkv, 0, T);
	if (L->has_wqkv) { /* q, k, v as one product into their shared rows */
		if (G->fuse & LM_FUSE_NORM)
			TRY(fused(G, lbl(G, il, "self_attn.qkv_proj"), &L->wqkv, &x, &L->attn_norm, NULL,
				  NULL, &qkv));
		else
			TRY(be->mul_mat(be->ctx, lbl(G, il, "self_attn.qkv_proj"), &L->wqkv, &xb, &qkv));
	} else if (G->fuse & LM_FUSE_NORM) { /* operator_norm folded into each projection */
		TRY(fused(G, lbl(G, il, "self_attn.q_proj"), &L->wq, &x, &L->attn_norm, NULL, NULL, &q));
		TRY(fused(G, lbl(G, il, "self_attn.k_proj"), &L->wk, &x, &L->attn_norm, NULL, NULL, &k));
		TRY(fused(G, lbl(G, il, "self_attn.v_proj"), &L->wv, &x, &L->attn_norm, NULL, NULL, &v));
	} else {
		TRY(be->mul_mat(be->ctx, lbl(G, il, "self_attn.q_proj"), &L->wq, &xb, &q)); /* [hd·n_head, T] */
		TRY(be->mul_mat(be->ctx, lbl(G, il, "self_attn.k_proj"), &L->wk, &xb, &k)); /* [hd·n_kv, T] */
		TRY(be->mul_mat(be->ctx, lbl(G, il, "self_attn.v_proj"), &L->wv, &xb, &v));
	}
	/* q_layernorm / k_layernorm, rotary_emb, then past_key_values.update */
	TRY(be->qk_norm_rope_kv(be->ctx, lbl(G, il, "self_attn.qk_norm_rope_kv"), &q, &k, &v, &L->q_norm,
				&L->k_norm, &G->batch, &G->c->kv[il], hp->head_dim, hp->rms_eps, hp->rope_theta));
	TRY(be->attention(be->ctx, lbl(G, il, "self_attn.attention"), &q, &G->c->kv[il], &G->batch,
			  hp->head_dim, &o));                                        /* [hd·n_head, T] */
	if (G->fuse & LM_FUSE_RESIDUAL)
		return fused(G, lbl(G, il, "self_attn.out_proj"), &L->wo, &o, NULL, NULL, &x, &x);
	TRY(be->mul_mat(be->ctx, lbl(G, il, "self_attn.out_proj"), &L->wo, &o, &xb));
	return be->add(be->ctx, lbl(G, il, "self_attn.residual"), &x, &xb, &x);
}

/* x += FFN(ffn_norm(x)), spec §3.7. */
static int ffn_block(struct lm_graph *G, uint32_t il)
{
	const struct lm_backend *be = G->be;
	const struct lm_layer *L = &G->m->layers[il];
	struct lm_acts *a = &G->c->a;
	uint32_t T = G->batch.n_tok;
	struct lm_tensor xb = rows_of(&a->xb, 0, T), x = rows_of(&a->x, 0, T);
	struct lm_tensor g = rows_of(&a->g, 0, T), u = rows_of(&a->u, 0, T);
	if (G->fuse & LM_FUSE_FFN) { /* ffn_norm, w1 and w3, SwiGLU in one */
		TRY(fused(G, lbl(G, il, "feed_forward.w1_w3_act"), &L->ffn_gate, &x, &L->ffn_norm,
			  &L->ffn_up, NULL, &g));
	} else {
		TRY(be->rms_norm(be->ctx, lbl(G, il, "ffn_norm"), &x, &L->ffn_norm, G->m->hp.rms_eps, &xb));
		TRY(be->mul_mat(be->ctx, lbl(G, il, "feed_forward.w1"), &L->ffn_gate, &xb, &g)); /* [F, T] */
		TRY(be->mul_mat(be->ctx, lbl(G, il, "feed_forward.w3"), &L->ffn_up, &xb, &u));
		TRY(be->swiglu(be->ctx, lbl(G, il, "feed_forward.act"), &g, &u, &g));
	}
	if (G->fuse & LM_FUSE_RESIDUAL)
		return fused(G, lbl(G, il, "feed_forward.w2"), &L->ffn_down, &g, NULL, NULL, &x, &x);
	TRY(be->mul_mat(be->ctx, lbl(G, il, "feed_forward.w2"), &L->ffn_down, &g, &xb)); /* [d, T] */
	return be->add(be->ctx, lbl(G, il, "feed_forward.residual"), &x, &xb, &x);
}

/* An I32 [n, 1] view of the first n entries of t. */
static struct lm_tensor ints(const struct lm_tensor *t, uint32_t n)
{
	struct lm_tensor v = *t;
	v.ne[0] = n;
	v.ne[1] = 1;
	return v;
}

static int lm_forward(struct lm_graph *G)
{
	const struct lm_backend *be = G->be;
	const struct lfm2_lm_hparams *hp = &G->m->hp;
	struct lm_acts *a = &G->c->a;
	uint32_t T = G->batch.n_tok;
	struct lm_tensor x = rows_of(&a->x, 0, T), xb = rows_of(&a->xb, 0, T);
	struct lm_tensor ids = G->ids_in ? *G->ids_in : ints(&a->ids, T);

	TRY(be->get_rows(be->ctx, LM_PREFIX "embed_tokens", &G->m->tok_embd, &ids, &x)); /* [d, T] */
	if (G->n_img) { /* spec §5.4: projector rows replace the image-slot embeddings */
		struct lm_tensor img = rows_of(&a->img, 0, G->n_img), pos = ints(&a->img_pos, G->n_img);
		TRY(be->set_rows(be->ctx, "model.multi_modal_projector", &img, &pos, &x));
	}
	for (uint32_t il = 0; il < hp->n_layer; il++) {
		if (!(G->fuse & LM_FUSE_NORM))
			TRY(be->rms_norm(be->ctx, lbl(G, il, "operator_norm"), &x,
					 &G->m->layers[il].attn_norm, hp->rms_eps, &xb));
		TRY(hp->is_attention[il] ? attn_block(G, il) : shortconv_block(G, il));
		TRY(ffn_block(G, il));
	}
	/* Only the rows that want logits go through the final norm and head. */
	struct lm_tensor out_idx = ints(&a->out_idx, G->n_out), sel = rows_of(&a->sel, 0, G->n_out);
	bool dev = (G->want_next || G->cand) && !G->want_logits;
	struct lm_tensor logits = rows_of(dev ? &a->logits_dev : &a->logits, 0, G->n_out);
	if (G->n_out == T) /* every row (decode): the head reads x itself */
		sel = x;
	else
		TRY(be->get_rows(be->ctx, LM_PREFIX "logit_rows", &x, &out_idx, &sel)); /* [d, n_out] */
	if (G->fuse & LM_FUSE_NORM) { /* embedding_norm folded into the head */
		TRY(fused(G, "lm_head", &G->m->tok_embd, &sel, &G->m->final_norm, NULL, NULL, &logits));
	} else {
		TRY(be->rms_norm(be->ctx, LM_PREFIX "embedding_norm", &sel, &G->m->final_norm, hp->rms_eps,
				 &sel));
		TRY(be->mul_mat(be->ctx, "lm_head", &G->m->tok_embd, &sel, &logits)); /* [V, n_out] (tied) */
	}
	if (G->want_next) {
		struct lm_tensor next = G->next_out ? *G->next_out : ints(&a->next, G->n_out);
		TRY(be->argmax(be->ctx, "lm_head.argmax", &logits, &next));
	}
	if (G->cand) {
		struct lm_tensor bits = rows_of(&a->cand_bits, 0, G->n_out);
		struct lm_tensor out = rows_of(&a->cand, 0, G->n_out);
		struct lm_tensor full = rows_of(&a->logits, 0, G->n_out);
		TRY(be->sample_candidates(be->ctx, "lm_head.candidates", &logits, &bits, G->cand->penalty,
					  G->cand->t, G->cand->log_min_p, LM_CAND_CAP, &out, &full));
	}
	return 0;
}

/* ---------------------------------------------------------------- context */

/* Splits of one sequence's keys (flash-decoding) the part scratch holds
 * room for, for steps of up to LM_PART_ROWS rows (decode batches). */
#define LM_PART_SPLITS 16
#define LM_PART_ROWS 16

static const struct { const char *name; uint32_t type; } kv_names[] = {
	{ "f16", TENSOR_F16 }, { "q8_0", TENSOR_Q8_0 }, { "q4_0", TENSOR_Q4_0 }, { "f32", TENSOR_F32 },
};

int lm_kv_type_parse(const char *name, uint32_t *type)
{
	for (size_t i = 0; i < G_N_ELEMENTS(kv_names); i++)
		if (!g_ascii_strcasecmp(name, kv_names[i].name)) {
			*type = kv_names[i].type;
			return 0;
		}
	return -EINVAL;
}

const char *lm_kv_type_name(uint32_t type)
{
	for (size_t i = 0; i < G_N_ELEMENTS(kv_names); i++)
		if (kv_names[i].type == type)
			return kv_names[i].name;
	return NULL;
}

int lm_ctx_create(struct lm_model *m, uint32_t n_slots, uint32_t n_ctx, uint32_t max_rows,
		  uint32_t max_logit_rows, struct lm_ctx **out)
{
	struct lm_ctx_params p = { .n_slots = n_slots, .n_ctx = n_ctx, .max_rows = max_rows,
				   .max_logit_rows = max_logit_rows };
	return lm_ctx_create_params(m, &p, out);
}

int lm_ctx_create_params(struct lm_model *m, const struct lm_ctx_params *p, struct lm_ctx **out)
{
	*out = NULL;
	const struct lfm2_lm_hparams *hp = &m->hp;
	const struct lm_backend *be = &m->be;
	uint32_t n_slots = p->n_slots, n_ctx = p->n_ctx, max_rows = p->max_rows;
	uint32_t max_logit_rows = p->max_logit_rows, kv_type = p->kv_type_set ? p->kv_type : be->kv_type;
	if (!n_slots || !n_ctx || !max_rows || !max_logit_rows || n_slots > 4096 || n_ctx > (1u << 20) ||
	    max_rows > (1u << 16) || max_logit_rows > max_rows || (uint64_t)n_slots * n_ctx > INT32_MAX ||
	    hp->l_cache < 2 || !lm_kv_type_name(kv_type))
		return -EINVAL;
	uint64_t kv_row = 0;
	if (kv_type != be->kv_type && !(be->kv_types & (1u << kv_type)))
		return -ENOTSUP;
	if (tensor_row_bytes(kv_type, (uint64_t)hp->n_head_kv * hp->head_dim, &kv_row) < 0)
		return -EINVAL; /* a row that is not whole blocks */
	struct lm_ctx *c = g_new0(struct lm_ctx, 1);
	c->m = m;
	c->n_slots = n_slots;
	c->n_ctx = n_ctx;
	c->kv_type = kv_type;
	c->max_rows = max_rows;
	c->max_logit_rows = max_logit_rows;
	uint32_t d = hp->d_model, nq = hp->n_head * hp->head_dim, nk = hp->n_head_kv * hp->head_dim;
	uint32_t T = max_rows, Lr = max_logit_rows, Lm1 = hp->l_cache - 1;
	int ret;

	/* Sizes first (mem NULL), then allocate and place again with the handles. */
	for (int pass = 0; pass < 2; pass++) {
		uint64_t cur = 0;
		c->kv_bytes = 0;
		for (uint32_t i = 0; i < hp->n_layer; i++) {
			if (hp->is_attention[i]) {
				uint64_t c0 = cur;
				c->kv[i].k = place(c->pool, &cur, kv_type, nk, n_slots * n_ctx);
				c->kv[i].v = place(c->pool, &cur, kv_type, nk, n_slots * n_ctx);
				c->kv[i].n_ctx = n_ctx;
				c->kv_bytes += cur - c0;
			} else {
				c->conv[i] = place(c->pool, &cur, TENSOR_F32, Lm1 * d, n_slots);
			}
		}
		c->pool_bytes = cur;
		cur = 0;
		struct lm_acts *a = &c->a;
		/* [hd + 2, n_head·splits·rows]: per piece the unnormalized output, its max and sum */
		struct lm_tensor part = place(c->scratch, &cur, TENSOR_F32, hp->head_dim + 2,
					      hp->n_head * LM_PART_SPLITS * MIN(max_rows, LM_PART_ROWS));
		for (uint32_t i = 0; i < hp->n_layer; i++)
			c->kv[i].part = part;
		a->x = place(c->scratch, &cur, TENSOR_F32, d, T);
		a->xb = place(c->scratch, &cur, TENSOR_F32, d, T);
		a->y = place(c->scratch, &cur, TENSOR_F32, d, T);
		a->z = place(c->scratch, &cur, TENSOR_F32, 3 * d, T);
		a->qkv = place(c->scratch, &cur, TENSOR_F32, nq + 2 * nk, T);
		a->q = a->k = a->v = a->qkv; /* [q | k | v] per row */
		a->q.ne[0] = nq;
		a->k.ne[0] = a->v.ne[0] = nk;
		a->q.row_stride = a->k.row_stride = a->v.row_stride = (uint64_t)(nq + 2 * nk) * 4;
		a->k.offset += (uint64_t)nq * 4;
		a->v.offset += (uint64_t)(nq + nk) * 4;
		a->o = place(c->scratch, &cur, TENSOR_F32, nq, T);
		a->g = place(c->scratch, &cur, TENSOR_F32, hp->d_ff, T);
		a->u = place(c->scratch, &cur, TENSOR_F32, hp->d_ff, T);
		a->sel = place(c->scratch, &cur, TENSOR_F32, d, Lr);
		a->logits_dev = place(c->scratch, &cur, TENSOR_F32, hp->n_vocab, Lr);
		c->scratch_bytes = cur;
		cur = 0;
		a->ids = place(c->upload, &cur, LM_TYPE_I32, T, 1);
		a->img_pos = place(c->upload, &cur, LM_TYPE_I32, T, 1);
		a->toks = place(c->upload, &cur, LM_TYPE_I32, LM_TOK_FIELDS, T);
		a->seqs = place(c->upload, &cur, LM_TYPE_I32, LM_SEQ_FIELDS, T);
		a->out_idx = place(c->upload, &cur, LM_TYPE_I32, Lr, 1);
		a->img = place(c->upload, &cur, TENSOR_F32, d, T);
		a->cand_bits = place(c->upload, &cur, LM_TYPE_I32, (hp->n_vocab + 31) / 32,
				     MIN(Lr, LM_CAND_MAX_ROWS));
		c->upload_bytes = cur;
		cur = 0;
		a->logits = place(c->readback, &cur, TENSOR_F32, hp->n_vocab, Lr);
		a->next = place(c->readback, &cur, LM_TYPE_I32, Lr, 1);
		a->cand = place(c->readback, &cur, LM_TYPE_I32, LM_CAND_STRIDE, MIN(Lr, LM_CAND_MAX_ROWS));
		c->readback_bytes = cur;
		if (pass == 1)
			break;
		if ((ret = be->alloc(be->ctx, LM_MEM_SCRATCH, c->pool_bytes, "lm-pool", &c->pool)) < 0 ||
		    (ret = be->alloc(be->ctx, LM_MEM_SCRATCH, c->scratch_bytes, "lm-scratch", &c->scratch)) < 0 ||
		    (ret = be->alloc(be->ctx, LM_MEM_UPLOAD, c->upload_bytes, "lm-upload", &c->upload)) < 0 ||
		    (ret = be->alloc(be->ctx, LM_MEM_READBACK, c->readback_bytes, "lm-readback", &c->readback)) < 0)
			goto fail;
	}
	c->seqs = g_new0(struct lm_seq, n_slots);
	for (uint32_t i = 0; i < n_slots; i++)
		c->seqs[i] = (struct lm_seq){ .ctx = c, .slot = i };
	c->h_ids = g_new0(int32_t, T);
	c->h_img = g_new0(int32_t, T);
	c->h_out = g_new0(int32_t, Lr);
	c->h_next = g_new0(int32_t, Lr);
	c->h_toks = g_new0(int32_t, (size_t)T * LM_TOK_FIELDS);
	c->h_seqs = g_new0(int32_t, (size_t)T * LM_SEQ_FIELDS);
	c->h_imgrows = g_new0(float, (size_t)T * d);
	c->zero_state = g_new0(float, (size_t)Lm1 * d);
	c->h_row = g_new0(float, hp->n_vocab);
	if (be->argmax) { /* greedy chunks: a few KB of tables and ids */
		uint32_t n = LM_CHAIN_MAX * Lr;
		uint64_t cur = 0;
		c->chain_toks = place(NULL, &cur, LM_TYPE_I32, LM_TOK_FIELDS, n);
		c->chain_seqs = place(NULL, &cur, LM_TYPE_I32, LM_SEQ_FIELDS, n);
		if ((ret = be->alloc(be->ctx, LM_MEM_UPLOAD, cur, "lm-chain-tables", &c->chain_up)) < 0)
			goto fail;
		c->upload_bytes += cur;
		c->chain_toks.mem = c->chain_seqs.mem = c->chain_up;
		cur = 0;
		c->chain_ids = place(NULL, &cur, LM_TYPE_I32, n, 1);
		if ((ret = be->alloc(be->ctx, LM_MEM_READBACK, cur, "lm-chain-ids", &c->chain_rb)) < 0)
			goto fail;
		c->readback_bytes += cur;
		c->chain_ids.mem = c->chain_rb;
		c->h_chain_toks = g_new0(int32_t, (size_t)n * LM_TOK_FIELDS);
		c->h_chain_seqs = g_new0(int32_t, (size_t)n * LM_SEQ_FIELDS);
		c->h_chain_ids = g_new0(int32_t, n);
	}
	*out = c;
	return 0;
fail:
	lm_ctx_destroy(c);
	return ret;
}

void lm_ctx_destroy(struct lm_ctx *c)
{
	if (!c)
		return;
	const struct lm_backend *be = &c->m->be;
	void *mems[] = { c->pool, c->scratch, c->upload, c->readback, c->chain_up, c->chain_rb };
	for (size_t i = 0; i < G_N_ELEMENTS(mems); i++)
		if (mems[i])
			be->free(be->ctx, mems[i]);
	g_free(c->seqs);
	g_free(c->h_ids);
	g_free(c->h_img);
	g_free(c->h_out);
	g_free(c->h_next);
	g_free(c->h_toks);
	g_free(c->h_seqs);
	g_free(c->h_imgrows);
	g_free(c->zero_state);
	g_free(c->h_row);
	g_free(c->h_chain_toks);
	g_free(c->h_chain_seqs);
	g_free(c->h_chain_ids);
	g_free(c);
}

void lm_ctx_memory(const struct lm_ctx *c, struct lm_ctx_memory *mem)
{
	mem->pool_bytes = c->pool_bytes;
	mem->kv_bytes = c->kv_bytes;
	mem->kv_type = c->kv_type;
	mem->scratch_bytes = c->scratch_bytes;
	mem->io_bytes = c->upload_bytes + c->readback_bytes;
}

int lm_seq_acquire(struct lm_ctx *c, struct lm_seq **out)
{
	*out = NULL;
	const struct lm_backend *be = &c->m->be;
	const struct lfm2_lm_hparams *hp = &c->m->hp;
	for (uint32_t s = 0; s < c->n_slots; s++) {
		struct lm_seq *q = &c->seqs[s];
		if (q->used)
			continue;
		/* A conv state starts at zero (spec §3.5); KV rows past pos are
		 * never read, so they need no reset. Reaches the device at the
		 * latest with the next step's begin (flush). */
		uint64_t bytes = (uint64_t)(hp->l_cache - 1) * hp->d_model * 4;
		for (uint32_t i = 0; i < hp->n_layer; i++) {
			if (hp->is_attention[i])
				continue;
			int ret = be->write(be->ctx, c->conv[i].mem, c->conv[i].offset + s * bytes,
					    c->zero_state, bytes);
			if (ret < 0)
				return ret;
		}
		q->used = true;
		q->pos = 0;
		*out = q;
		return 0;
	}
	return -ENOSPC;
}

void lm_seq_release(struct lm_seq *s)
{
	if (s)
		s->used = false;
}

uint32_t lm_seq_pos(const struct lm_seq *s)
{
	return s->pos;
}

static uint32_t host_argmax(const float *x, uint32_t n)
{
	uint32_t best = 0;
	for (uint32_t i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return best;
}

/* Check the inputs and fill the host tables; G gets the counts. */
static int build_step(struct lm_ctx *c, const struct lm_input *in, uint32_t n_in, struct lm_graph *G)
{
	const struct lfm2_lm_hparams *hp = &c->m->hp;
	uint32_t d = hp->d_model, T = 0, n_out = 0, n_img = 0, max_seq = 0, max_keys = 0;
	for (uint32_t i = 0; i < n_in; i++) {
		const struct lm_input *p = &in[i];
		if (!p->seq || p->seq->ctx != c || !p->seq->used || p->seq->busy || !p->n || !p->ids)
			return -EINVAL;
		p->seq->busy = true;
		if (p->n > c->max_rows - T || p->n > c->n_ctx - p->seq->pos)
			return -ENOSPC;
		uint32_t used = 0;
		for (uint32_t t = 0; t < p->n; t++) {
			int32_t id = p->ids[t];
			if (id < 0 || (uint32_t)id >= hp->n_vocab)
				return -EINVAL;
			c->h_ids[T + t] = id;
			c->h_toks[(T + t) * LM_TOK_FIELDS + 0] = (int32_t)(p->seq->pos + t);
			c->h_toks[(T + t) * LM_TOK_FIELDS + 1] = (int32_t)p->seq->slot;
			if (p->slot_rows && id == p->image_id) {
				if (used == p->n_slot_rows)
					return -EINVAL;
				memcpy(c->h_imgrows + (size_t)n_img * d, p->slot_rows + (size_t)used * d,
				       (size_t)d * sizeof(float));
				c->h_img[n_img++] = (int32_t)(T + t);
				used++;
			}
		}
		if (used != (p->slot_rows ? p->n_slot_rows : 0))
			return -EINVAL;
		int32_t *sq = c->h_seqs + (size_t)i * LM_SEQ_FIELDS;
		sq[0] = (int32_t)T;
		sq[1] = (int32_t)p->n;
		sq[2] = (int32_t)p->seq->slot;
		sq[3] = (int32_t)p->seq->pos;
		max_seq = p->n > max_seq ? p->n : max_seq;
		max_keys = MAX(max_keys, p->seq->pos + p->n);
		uint32_t want = p->all_logits ? p->n : 1;
		if (want > c->max_logit_rows - n_out)
			return -ENOSPC;
		for (uint32_t t = p->n - want; t < p->n; t++)
			c->h_out[n_out++] = (int32_t)(T + t);
		T += p->n;
	}
	if (n_in > c->max_rows)
		return -ENOSPC;
	G->batch.n_tok = T;
	G->batch.n_seq = n_in;
	G->batch.max_seq_tok = max_seq;
	G->batch.max_keys = max_keys;
	G->batch.toks = c->a.toks;
	G->batch.toks.ne[1] = T;
	G->batch.seqs = c->a.seqs;
	G->batch.seqs.ne[1] = n_in;
	G->n_img = n_img;
	G->n_out = n_out;
	return 0;
}

static int ctx_step(struct lm_ctx *c, const struct lm_input *in, uint32_t n_in, float *logits,
		    int32_t *next, const struct lm_cand_params *cand, uint32_t *cand_out)
{
	const struct lm_model *m = c->m;
	const struct lm_backend *be = &m->be;
	uint32_t V = m->hp.n_vocab, d = m->hp.d_model;
	struct lm_acts *a = &c->a;
	if (!n_in || !in)
		return -EINVAL;
	for (uint32_t i = 0; i < n_in; i++)
		if (in[i].seq)
			in[i].seq->busy = false;
	struct lm_graph G = { .be = be, .m = m, .c = c, .want_next = next && be->argmax,
			      .want_logits = logits != NULL, .cand = cand };
	int ret = build_step(c, in, n_in, &G);
	if (ret < 0)
		goto out;
	if (cand && G.n_out > a->cand.ne[1]) {
		ret = -ENOSPC;
		goto out;
	}
	if (cand && (ret = be->write(be->ctx, c->upload, a->cand_bits.offset, cand->bits,
				     (uint64_t)G.n_out * a->cand_bits.ne[0] * 4)) < 0)
		goto out;
	uint32_t T = G.batch.n_tok;
	G.fuse = be->mul_mat_fused && T <= be->fused_max_rows ? be->fuse : 0;
	if ((ret = be->write(be->ctx, c->upload, a->ids.offset, c->h_ids, (uint64_t)T * 4)) < 0 ||
	    (ret = be->write(be->ctx, c->upload, a->toks.offset, c->h_toks, (uint64_t)T * LM_TOK_FIELDS * 4)) < 0 ||
	    (ret = be->write(be->ctx, c->upload, a->seqs.offset, c->h_seqs, (uint64_t)n_in * LM_SEQ_FIELDS * 4)) < 0 ||
	    (ret = be->write(be->ctx, c->upload, a->out_idx.offset, c->h_out, (uint64_t)G.n_out * 4)) < 0 ||
	    (G.n_img && (ret = be->write(be->ctx, c->upload, a->img_pos.offset, c->h_img, (uint64_t)G.n_img * 4)) < 0) ||
	    (G.n_img && (ret = be->write(be->ctx, c->upload, a->img.offset, c->h_imgrows,
					 (uint64_t)G.n_img * d * 4)) < 0))
		goto out;
	if ((ret = be->begin(be->ctx)) < 0)
		goto out;
	ret = lm_forward(&G);
	int sret = be->submit_wait(be->ctx);
	if (ret == 0)
		ret = sret;
	if (ret < 0)
		goto out;
	if (logits && (ret = be->read(be->ctx, c->readback, a->logits.offset, logits, (uint64_t)G.n_out * V * 4)) < 0)
		goto out;
	if (cand && (ret = be->read(be->ctx, c->readback, a->cand.offset, cand_out,
				    (uint64_t)G.n_out * LM_CAND_STRIDE * 4)) < 0)
		goto out;
	if (next && G.want_next) {
		ret = be->read(be->ctx, c->readback, a->next.offset, next, (uint64_t)G.n_out * 4);
		if (ret < 0)
			goto out;
	} else if (next) {
		/* No device argmax: from the logits, one row at a time. */
		for (uint32_t r = 0; r < G.n_out; r++) {
			const float *row = logits ? logits + (size_t)r * V : c->h_row;
			if (!logits && (ret = be->read(be->ctx, c->readback, a->logits.offset + (uint64_t)r * V * 4,
						       c->h_row, (uint64_t)V * 4)) < 0)
				goto out;
			next[r] = (int32_t)host_argmax(row, V);
		}
	}
	for (uint32_t i = 0; i < n_in; i++)
		in[i].seq->pos += in[i].n;
	ret = 0;
out:
	for (uint32_t i = 0; i < n_in; i++)
		if (in[i].seq)
			in[i].seq->busy = false;
	return ret;
}

int lm_ctx_step(struct lm_ctx *c, const struct lm_input *in, uint32_t n_in, float *logits,
		int32_t *next)
{
	return ctx_step(c, in, n_in, logits, next, NULL, NULL);
}

int lm_ctx_step_candidates(struct lm_ctx *c, const struct lm_input *in, uint32_t n_in,
			   const struct lm_cand_params *p, uint32_t *out)
{
	if (!c->m->be.sample_candidates)
		return -ENOTSUP;
	if (!p || !p->bits || !out || !n_in || !in)
		return -EINVAL;
	for (uint32_t i = 0; i < n_in; i++)
		if (in[i].all_logits && in[i].n != 1)
			return -EINVAL;
	return ctx_step(c, in, n_in, NULL, NULL, p, out);
}

int lm_ctx_read_logits(struct lm_ctx *c, uint32_t row, float *out)
{
	const struct lm_backend *be = &c->m->be;
	uint32_t V = c->m->hp.n_vocab;
	if (row >= c->a.cand.ne[1])
		return -EINVAL;
	return be->read(be->ctx, c->readback, c->a.logits.offset + (uint64_t)row * V * 4, out,
			(uint64_t)V * 4);
}

/* The one-step loop, for backends without a device argmax. */
static int greedy_one_by_one(struct lm_ctx *c, struct lm_seq *const *seqs, const int32_t *first,
			     uint32_t n_seq, uint32_t k_steps, int32_t *out)
{
	struct lm_input *in = g_new(struct lm_input, n_seq);
	int32_t *cur = g_new(int32_t, n_seq);
	int32_t *next = g_new(int32_t, n_seq);
	int ret = 0;
	memcpy(cur, first, (size_t)n_seq * sizeof *cur);
	for (uint32_t j = 0; j < k_steps && ret == 0; j++) {
		for (uint32_t i = 0; i < n_seq; i++)
			in[i] = (struct lm_input){ .seq = seqs[i], .ids = &cur[i], .n = 1 };
		if ((ret = lm_ctx_step(c, in, n_seq, NULL, next)) < 0)
			break;
		for (uint32_t i = 0; i < n_seq; i++)
			out[(size_t)i * k_steps + j] = cur[i] = next[i];
	}
	g_free(in);
	g_free(cur);
	g_free(next);
	return ret;
}

int lm_ctx_decode_greedy(struct lm_ctx *c, struct lm_seq *const *seqs, const int32_t *first,
			 uint32_t n_seq, uint32_t k_steps, int32_t *out)
{
	const struct lm_model *m = c->m;
	const struct lm_backend *be = &m->be;
	struct lm_acts *a = &c->a;
	if (!seqs || !first || !out || !n_seq || !k_steps || k_steps > LM_CHAIN_MAX)
		return -EINVAL;
	if (n_seq > c->max_logit_rows || n_seq > c->max_rows)
		return -ENOSPC;
	if (!be->argmax)
		return greedy_one_by_one(c, seqs, first, n_seq, k_steps, out);
	int ret = 0;
	for (uint32_t i = 0; i < n_seq; i++) {
		struct lm_seq *q = seqs[i];
		if (!q || q->ctx != c || !q->used || q->busy || first[i] < 0 ||
		    (uint32_t)first[i] >= m->hp.n_vocab) {
			ret = -EINVAL;
			break;
		}
		q->busy = true;
		if (k_steps > c->n_ctx - q->pos) {
			ret = -ENOSPC;
			break;
		}
	}
	if (ret < 0)
		goto out;
	/* Every step's tables up front: step j has one row per sequence, at
	 * rows [j·n_seq, (j + 1)·n_seq) of the chain tables. */
	for (uint32_t j = 0; j < k_steps; j++)
		for (uint32_t i = 0; i < n_seq; i++) {
			uint32_t r = j * n_seq + i;
			int32_t pos = (int32_t)(seqs[i]->pos + j), slot = (int32_t)seqs[i]->slot;
			int32_t *tk = c->h_chain_toks + (size_t)r * LM_TOK_FIELDS;
			int32_t *sq = c->h_chain_seqs + (size_t)r * LM_SEQ_FIELDS;
			tk[0] = pos;
			tk[1] = slot;
			sq[0] = (int32_t)i;
			sq[1] = 1;
			sq[2] = slot;
			sq[3] = pos;
		}
	uint32_t rows = k_steps * n_seq;
	if ((ret = be->write(be->ctx, c->upload, a->ids.offset, first, (uint64_t)n_seq * 4)) < 0 ||
	    (ret = be->write(be->ctx, c->chain_up, c->chain_toks.offset, c->h_chain_toks,
			     (uint64_t)rows * LM_TOK_FIELDS * 4)) < 0 ||
	    (ret = be->write(be->ctx, c->chain_up, c->chain_seqs.offset, c->h_chain_seqs,
			     (uint64_t)rows * LM_SEQ_FIELDS * 4)) < 0)
		goto out;
	if ((ret = be->begin(be->ctx)) < 0)
		goto out;
	struct lm_tensor ids0 = ints(&a->ids, n_seq);
	uint32_t max_pos = 0;
	for (uint32_t i = 0; i < n_seq; i++)
		max_pos = MAX(max_pos, seqs[i]->pos);
	for (uint32_t j = 0; j < k_steps && ret == 0; j++) {
		struct lm_tensor ids_prev = ints(&c->chain_ids, n_seq), ids_next = ints(&c->chain_ids, n_seq);
		ids_prev.offset += (uint64_t)(j ? j - 1 : 0) * n_seq * 4;
		ids_next.offset += (uint64_t)j * n_seq * 4;
		struct lm_graph G = { .be = be, .m = m, .c = c, .want_next = true, .n_out = n_seq,
				      .ids_in = j ? &ids_prev : &ids0, .next_out = &ids_next };
		G.batch = (struct lm_batch){ .n_tok = n_seq, .n_seq = n_seq, .max_seq_tok = 1,
					     .max_keys = max_pos + j + 1,
					     .toks = rows_of(&c->chain_toks, j * n_seq, n_seq),
					     .seqs = rows_of(&c->chain_seqs, j * n_seq, n_seq) };
		G.fuse = be->mul_mat_fused && n_seq <= be->fused_max_rows ? be->fuse : 0;
		ret = lm_forward(&G);
	}
	int sret = be->submit_wait(be->ctx);
	if (ret == 0)
		ret = sret;
	if (ret < 0)
		goto out;
	if ((ret = be->read(be->ctx, c->chain_rb, c->chain_ids.offset, c->h_chain_ids, (uint64_t)rows * 4)) < 0)
		goto out;
	for (uint32_t i = 0; i < n_seq; i++) {
		for (uint32_t j = 0; j < k_steps; j++)
			out[(size_t)i * k_steps + j] = c->h_chain_ids[j * n_seq + i];
		seqs[i]->pos += k_steps;
	}
out:
	for (uint32_t i = 0; i < n_seq; i++)
		if (seqs[i] && seqs[i]->ctx == c)
			seqs[i]->busy = false;
	return ret;
}
