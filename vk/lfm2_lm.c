/* vk/lfm2_lm.c — struct lm_backend on the Vulkan runtime (see lfm2_lm.h). */
#include "vk/lfm2_lm.h"
#include "vk/graph_mem.h"

#include <errno.h>
#include <stdlib.h>

#include <glib.h>

#include "model/quant.h"
#include "vk/buffer.h"
#include "vk/ops.h"
#include "vk/ops_lm.h"
#include "vk/ops_matmul.h"
#include "vk/recorder.h"

struct gpu_lm {
	struct gpu_graph_mem mem; /* first: the backend's ctx points at it (vk/graph_mem.h) */
	struct lm_backend be;
	const struct gpu_pipelines *pipes;
	uint32_t mmv_max_cols; /* batches up to this many rows take the mat-vec kernels */
};



/* Decode-sized batches take the matrix-vector kernels (up to
 * GPU_MMV_MAX_COLS vectors per workgroup, the row's weights read from memory
 * for the first and from L1 for the others); larger ones (prefill) the tiled
 * matrix-matrix kernel, whose time hardly moves below 32 rows. 450m Q4_0 on
 * the H100, ms per decode step, mat-vec / mat-mat: 4 rows 3.0 / 6.5, 16 rows
 * 9.5 / 6.6, 32 rows 14.3 / 7.0 (bench/results/2026-11-21-h100-matvec); 8
 * lies between the measured points. CAPTIOND_MMV_MAX_COLS overrides it (0:
 * the matrix-matrix kernel and the plain ops for every step). */
#define MMV_MAX_COLS_DEFAULT 8

/* Every fusion: with one subgroup per output row (mul_mat_vec.glsl) the
 * folded RMSNorm is a few FMAs per weight on x the row reads anyway, and it
 * saves a dispatch per use. (With the earlier one-row-per-workgroup kernel
 * it lost: in_proj 23.1 → 32.9 µs, lm_head 224.6 → 529.5 on the H200.)
 * CAPTIOND_LM_FUSE (a mask of LM_FUSE_*, 0: none) overrides it. */
#define LM_FUSE_DEFAULT LM_FUSE_ALL

static int vk_mul_mat(void *ctx, const char *label, const struct lm_tensor *w, const struct lm_tensor *x,
		      const struct lm_tensor *y)
{
	struct gpu_lm *g = ctx;
	struct gpu_tensor W = gpu_graph_tensor(w), X = gpu_graph_tensor(x), Y = gpu_graph_tensor(y);
	if (x->ne[1] > g->mmv_max_cols)
		return gpu_op_mul_mat(g->mem.rec, label, &W, &X, &Y, NULL);
	return gpu_op_mul_mat_vec(g->mem.rec, label, &W, &X, &Y);
}

/* The graph calls this only for steps of at most be.fused_max_rows rows. */
static int vk_mul_mat_fused(void *ctx, const char *label, const struct lm_tensor *w,
			    const struct lm_tensor *x, const struct lm_fusion *f, const struct lm_tensor *y)
{
	struct gpu_lm *g = ctx;
	struct gpu_tensor W = gpu_graph_tensor(w), X = gpu_graph_tensor(x), Y = gpu_graph_tensor(y), N, U, R;
	struct gpu_mmv_fusion F = { .eps = f->eps };
	if (f->norm) {
		N = gpu_graph_tensor(f->norm);
		F.norm = &N;
	}
	if (f->up) {
		U = gpu_graph_tensor(f->up);
		F.up = &U;
	}
	if (f->residual) {
		R = gpu_graph_tensor(f->residual);
		F.residual = &R;
	}
	return gpu_op_mul_mat_vec_fused(g->mem.rec, label, &W, &X, &F, &Y);
}

static int vk_rms_norm(void *ctx, const char *label, const struct lm_tensor *x, const struct lm_tensor *w,
		       float eps, const struct lm_tensor *y)
{
	struct gpu_lm *g = ctx;
	struct gpu_tensor X = gpu_graph_tensor(x), Wt = gpu_graph_tensor(w), Y = gpu_graph_tensor(y);
	return gpu_op_rms_norm(g->mem.rec, label, &X, &Wt, eps, &Y);
}

static int vk_add(void *ctx, const char *label, const struct lm_tensor *a, const struct lm_tensor *b,
		  const struct lm_tensor *c)
{
	struct gpu_lm *g = ctx;
	struct gpu_tensor A = gpu_graph_tensor(a), B = gpu_graph_tensor(b), C = gpu_graph_tensor(c);
	return gpu_op_add(g->mem.rec, label, &A, &B, &C);
}

/* An I32 [n, 1] tensor as the int list of vk/ops_lm.h. */
static struct gpu_i32s gi(const struct lm_tensor *t)
{
	return (struct gpu_i32s){ .buffer = t->mem, .offset = t->offset, .n = t->ne[0] * t->ne[1] };
}

/* model/lm_graph.h's tables have vk/ops_lm.h's layout by design. */
_Static_assert(LM_TOK_FIELDS == GPU_TOK_FIELDS && LM_SEQ_FIELDS == GPU_SEQ_FIELDS, "batch tables");

static struct gpu_lm_batch gb(const struct lm_batch *b)
{
	return (struct gpu_lm_batch){
		.n_tok = b->n_tok, .n_seq = b->n_seq, .max_seq_tok = b->max_seq_tok, .max_keys = b->max_keys,
		.toks = gi(&b->toks), .seqs = gi(&b->seqs),
	};
}

static struct gpu_kv_cache gkv(const struct lm_kv *kv)
{
	struct gpu_kv_cache c = { .k = gpu_graph_tensor(&kv->k), .v = gpu_graph_tensor(&kv->v), .n_ctx = kv->n_ctx };
	if (kv->part.mem)
		c.part = gpu_graph_tensor(&kv->part);
	return c;
}

static int vk_get_rows(void *ctx, const char *label, const struct lm_tensor *table,
		       const struct lm_tensor *ids, const struct lm_tensor *y)
{
	struct gpu_lm *g = ctx;
	struct gpu_tensor Tb = gpu_graph_tensor(table), Y = gpu_graph_tensor(y);
	struct gpu_i32s I = gi(ids);
	return gpu_op_get_rows(g->mem.rec, label, &Tb, &I, &Y);
}

static int vk_set_rows(void *ctx, const char *label, const struct lm_tensor *src,
		       const struct lm_tensor *rows, const struct lm_tensor *y)
{
	struct gpu_lm *g = ctx;
	struct gpu_tensor S = gpu_graph_tensor(src), Y = gpu_graph_tensor(y);
	struct gpu_i32s R = gi(rows);
	return gpu_op_set_rows(g->mem.rec, label, &S, &R, &Y);
}

static int vk_swiglu(void *ctx, const char *label, const struct lm_tensor *gate, const struct lm_tensor *u,
		     const struct lm_tensor *y)
{
	struct gpu_lm *g = ctx;
	struct gpu_tensor G = gpu_graph_tensor(gate), U = gpu_graph_tensor(u), Y = gpu_graph_tensor(y);
	return gpu_op_swiglu(g->mem.rec, label, &G, &U, &Y);
}

static int vk_shortconv(void *ctx, const char *label, const struct lm_tensor *z, const struct lm_tensor *w,
			const struct lm_tensor *state, const struct lm_batch *b, const struct lm_tensor *y)
{
	struct gpu_lm *g = ctx;
	struct gpu_tensor Z = gpu_graph_tensor(z), Wt = gpu_graph_tensor(w), S = gpu_graph_tensor(state), Y = gpu_graph_tensor(y);
	struct gpu_lm_batch B = gb(b);
	return gpu_op_shortconv(g->mem.rec, label, &Z, &Wt, &S, &B, &Y);
}

static int vk_qk_norm_rope_kv(void *ctx, const char *label, const struct lm_tensor *q,
			      const struct lm_tensor *k, const struct lm_tensor *v,
			      const struct lm_tensor *q_norm, const struct lm_tensor *k_norm,
			      const struct lm_batch *b, const struct lm_kv *kv, uint32_t head_dim, float eps,
			      float theta)
{
	struct gpu_lm *g = ctx;
	struct gpu_tensor Q = gpu_graph_tensor(q), K = gpu_graph_tensor(k), Vt = gpu_graph_tensor(v), QN = gpu_graph_tensor(q_norm), KN = gpu_graph_tensor(k_norm);
	struct gpu_lm_batch B = gb(b);
	struct gpu_kv_cache C = gkv(kv);
	struct gpu_rope_params p = { .head_dim = head_dim, .eps = eps, .theta = theta };
	return gpu_op_rope_qk_norm(g->mem.rec, label, &Q, &K, &Vt, &QN, &KN, &B, &C, &p);
}

static int vk_attention(void *ctx, const char *label, const struct lm_tensor *q, const struct lm_kv *kv,
			const struct lm_batch *b, uint32_t head_dim, const struct lm_tensor *o)
{
	struct gpu_lm *g = ctx;
	struct gpu_tensor Q = gpu_graph_tensor(q), O = gpu_graph_tensor(o);
	struct gpu_lm_batch B = gb(b);
	struct gpu_kv_cache C = gkv(kv);
	return gpu_op_attention(g->mem.rec, label, &Q, &C, &B, head_dim, &O);
}

static int vk_argmax(void *ctx, const char *label, const struct lm_tensor *logits, const struct lm_tensor *ids)
{
	struct gpu_lm *g = ctx;
	struct gpu_tensor L = gpu_graph_tensor(logits);
	struct gpu_i32s I = gi(ids);
	return gpu_op_argmax(g->mem.rec, label, &L, &I);
}

int gpu_lm_create(struct gpu_device *dev, const struct gpu_pipelines *pipes, struct gpu_staging *st,
		  uint32_t max_dispatches, struct gpu_lm **out)
{
	*out = NULL;
	struct gpu_lm *g = g_new0(struct gpu_lm, 1);
	g->mem.dev = dev;
	g->pipes = pipes;
	g->mem.st = st;
	g->mmv_max_cols = MMV_MAX_COLS_DEFAULT;
	const char *env = getenv("CAPTIOND_MMV_MAX_COLS");
	if (env && *env) {
		char *end;
		unsigned long v = strtoul(env, &end, 10);
		if (*end == '\0' && v <= 4096)
			g->mmv_max_cols = (uint32_t)v;
	}
	int ret = gpu_recorder_create(dev, pipes, max_dispatches, &g->mem.rec);
	if (ret < 0) {
		g_free(g);
		return ret;
	}
	g->be = (struct lm_backend){
		.ctx = g,
		.name = "vulkan",
		.kv_type = TENSOR_F16, /* vk/ops_lm.h: K and V in F16 unless the context asks */
		.kv_types = 1u << TENSOR_F16 | 1u << TENSOR_Q8_0 | 1u << TENSOR_Q4_0,
		.alloc = gpu_graph_mem_alloc,
		.free = gpu_graph_mem_free,
		.write = gpu_graph_mem_write,
		.flush = gpu_graph_mem_flush,
		.read = gpu_graph_mem_read,
		.begin = gpu_graph_mem_begin,
		.submit_wait = gpu_graph_mem_submit_wait,
		.get_rows = vk_get_rows,
		.set_rows = vk_set_rows,
		.mul_mat = vk_mul_mat,
		.rms_norm = vk_rms_norm,
		.add = vk_add,
		.swiglu = vk_swiglu,
		.shortconv = vk_shortconv,
		.qk_norm_rope_kv = vk_qk_norm_rope_kv,
		.attention = vk_attention,
		.argmax = vk_argmax,
		.mul_mat_fused = vk_mul_mat_fused,
		.fused_max_rows = g->mmv_max_cols,
	};
	g->be.fuse = LM_FUSE_DEFAULT;
	env = getenv("CAPTIOND_LM_FUSE");
	if (env && *env) {
		char *end;
		unsigned long v = strtoul(env, &end, 10);
		if (*end == '\0' && v <= LM_FUSE_ALL)
			g->be.fuse = (uint32_t)v;
	}
	*out = g;
	return 0;
}

void gpu_lm_destroy(struct gpu_lm *g)
{
	if (!g)
		return;
	gpu_recorder_destroy(g->mem.rec);
	g_free(g);
}

const struct lm_backend *gpu_lm_backend(struct gpu_lm *g)
{
	return &g->be;
}

void gpu_lm_memory(const struct gpu_lm *g, uint64_t bytes[4])
{
	for (int i = 0; i < 4; i++)
		bytes[i] = g->mem.bytes[i];
}
