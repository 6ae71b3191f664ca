/* model/lm_graph.h — the LFM2 decoder written once, against a small backend
 * interface, plus the sequence API (model / context / sequence) on top.
 *
 * Why an interface of function pointers: the graph (which op, on which
 * tensors, in what order; spec §3) must not know how an op runs, so the
 * Vulkan binding (vk/lfm2_lm.c) and a CPU backend (tests/lm-cpu.c now, the
 * daemon's fallback later) run the same code. A tensor is a plain typed view
 * {memory handle, byte offset, type, [ne0, ne1], row stride}: views (a third
 * of in_proj's output, one sequence's rows) are offset arithmetic done here,
 * and the backend only sees handles it allocated itself. Every op is labelled
 * with the Hugging Face module path ("model.language_model.layers.3.conv.
 * in_proj") so a profile or a dump names it the way transformers does.
 *
 * Batches: one step runs T rows (tokens) of any number of sequences; rows of
 * one sequence are consecutive and in position order. The per-row metadata
 * (struct lm_row, I32 [4, T]) says which pool slot a row belongs to, its
 * position and the first row of its sequence in this step; the per-sequence
 * ops (short conv, KV write, attention, RoPE) read it, the dense ops see only
 * a [K, T] matrix. Prefill and decode are the same step (decode: one row per
 * sequence), so a sequence may join a running batch between any two steps.
 *
 * Memory: lm_ctx_create reserves everything (KV/conv pool for n_slots
 * sequences of n_ctx positions, activations for max_rows rows, the per-step
 * input and output buffers); lm_ctx_step allocates nothing and records the
 * whole step between one begin and one submit.
 *
 * Threads: an lm_model is immutable after create and may be shared by
 * contexts (each context, and the backend context it uses, belongs to one
 * thread). Errors: 0 or negative errno (-EINVAL bad input, -ENOSPC pool or
 * context full, -ENOTSUP an op the backend lacks, -ENOMEM, -ENODEV).
 */
#ifndef CAPTIOND_MODEL_LM_GRAPH_H
#define CAPTIOND_MODEL_LM_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/hparams.h"

struct gguf_file;

/* A typed view of backend memory (ggml order: ne[0] contiguous). */
struct lm_tensor {
	void *mem;           /* backend's handle from lm_backend.alloc */
	uint64_t offset;     /* bytes from the start of mem to row 0 */
	uint32_t type;       /* enum tensor_type (model/quant.h); I32 data uses LM_TYPE_I32 */
	uint32_t ne[2];      /* [elements per row, rows] */
	uint64_t row_stride; /* bytes between rows; 0: contiguous */
};

#define LM_TYPE_I32 26 /* GGML_TYPE_I32 */

/* Row metadata, one per batch row (I32 [4, T] on the device). */
struct lm_row {
	int32_t slot;  /* pool slot of the row's sequence */
	int32_t pos;   /* absolute position (RoPE, causal limit: attends 0..pos) */
	int32_t first; /* batch row of the sequence's first row in this step */
	int32_t last;  /* batch row of its last row in this step */
};

enum lm_mem_kind { LM_MEM_WEIGHTS, LM_MEM_SCRATCH, LM_MEM_UPLOAD, LM_MEM_READBACK };

/* Pool geometry handed to the per-sequence ops. Per attention layer the K
 * and V caches are F32 [nk, n_slots·n_ctx] (slot s, position p at row
 * s·n_ctx + p, K after QK-norm and RoPE); per conv layer the state is F32
 * [d, n_slots·(L−1)] (slot s's oldest value at row s·(L−1)). */
struct lm_pool_geom {
	uint32_t n_slots, n_ctx;
};

struct lm_backend {
	void *ctx;
	const char *name;
	/* Memory: sized at start-up only. UPLOAD is written by write() every
	 * step; READBACK read by read() after submit. */
	int (*alloc)(void *ctx, enum lm_mem_kind kind, uint64_t bytes, const char *name, void **mem);
	void (*free)(void *ctx, void *mem);
	int (*write)(void *ctx, void *mem, uint64_t offset, const void *src, uint64_t bytes);
	int (*flush)(void *ctx); /* weights written so far reach the device */
	int (*read)(void *ctx, void *mem, uint64_t offset, void *dst, uint64_t bytes);
	int (*begin)(void *ctx);
	int (*submit_wait)(void *ctx);

	/* y[:, i] = table[:, ids[i]] for rows whose id is >= 0 (others kept).
	 * table: [K, R] any type with a dequantizer; ids: I32 [n]; y: F32 [K, n]. */
	int (*get_rows)(void *ctx, const char *label, const struct lm_tensor *table,
			const struct lm_tensor *ids, const struct lm_tensor *y);
	/* y = W·x per column; W [K, M], x F32 [K, n], y F32 [M, n]. */
	int (*mul_mat)(void *ctx, const char *label, const struct lm_tensor *w,
		       const struct lm_tensor *x, const struct lm_tensor *y);
	/* y = x / sqrt(mean(x²) + eps) · w per row; y may be x. */
	int (*rms_norm)(void *ctx, const char *label, const struct lm_tensor *x,
			const struct lm_tensor *w, float eps, const struct lm_tensor *y);
	/* c = a + b; c may be a. */
	int (*add)(void *ctx, const char *label, const struct lm_tensor *a,
		   const struct lm_tensor *b, const struct lm_tensor *c);
	/* y = silu(g) ⊙ u; all F32 [F, n]; y may be g. */
	int (*swiglu)(void *ctx, const char *label, const struct lm_tensor *g,
		      const struct lm_tensor *u, const struct lm_tensor *y);
	/* Gated short conv of spec §3.5 over the batch: z F32 [3d, n] rows
	 * B | C | X (may be overwritten), w F32 [L, d], state the layer's pool
	 * (see lm_pool_geom), rows I32 [4, n]; y F32 [d, n]. History before a
	 * sequence's first row comes from its slot; after the step each
	 * sequence's slot holds its last L−1 values of B⊙X. */
	int (*shortconv)(void *ctx, const char *label, const struct lm_tensor *z,
			 const struct lm_tensor *w, const struct lm_tensor *state,
			 const struct lm_tensor *rows, const struct lm_pool_geom *g,
			 const struct lm_tensor *y);
	/* NeoX RoPE in place on x F32 [hd, n_heads·n] (head-major per row), at
	 * each row's position, base theta. */
	int (*rope)(void *ctx, const char *label, const struct lm_tensor *x, uint32_t n_heads,
		    const struct lm_tensor *rows, float theta);
	/* Copy k, v F32 [nk, n] into the layer's caches at (slot, pos). */
	int (*kv_write)(void *ctx, const char *label, const struct lm_tensor *k,
			const struct lm_tensor *v, const struct lm_tensor *kcache,
			const struct lm_tensor *vcache, const struct lm_tensor *rows,
			const struct lm_pool_geom *g);
	/* Causal GQA: o[:, i] (F32 [n_head·hd, n]) from q (same shape) against
	 * cache rows slot·n_ctx + 0..pos; scale 1/sqrt(hd), softmax in f32. */
	int (*attention)(void *ctx, const char *label, const struct lm_tensor *q,
			 const struct lm_tensor *kcache, const struct lm_tensor *vcache,
			 const struct lm_tensor *rows, const struct lm_pool_geom *g,
			 uint32_t n_head, uint32_t n_head_kv, uint32_t head_dim,
			 const struct lm_tensor *o);
};

struct lm_model;
struct lm_ctx;
struct lm_seq;

/* Read hparams from f, place every LM tensor in one WEIGHTS allocation and
 * upload it. f may be closed after create. */
int lm_model_create(const struct lm_backend *be, const struct gguf_file *f, struct lm_model **out,
		    char *err, size_t err_size);
void lm_model_destroy(struct lm_model *m);
const struct lfm2_lm_hparams *lm_model_hparams(const struct lm_model *m);
uint64_t lm_model_weight_bytes(const struct lm_model *m);

/* Reserve pools for n_slots sequences of n_ctx positions and activations for
 * steps of up to max_rows rows, of which up to max_logit_rows want logits. */
int lm_ctx_create(struct lm_model *m, uint32_t n_slots, uint32_t n_ctx, uint32_t max_rows,
		  uint32_t max_logit_rows, struct lm_ctx **out);
void lm_ctx_destroy(struct lm_ctx *c);

struct lm_ctx_memory {
	uint64_t pool_bytes;     /* KV caches and conv states */
	uint64_t scratch_bytes;  /* activations */
	uint64_t io_bytes;       /* per-step upload and readback */
};
void lm_ctx_memory(const struct lm_ctx *c, struct lm_ctx_memory *mem);

/* A free slot, reset (position 0, zero conv state); -ENOSPC when all are taken. */
int lm_seq_acquire(struct lm_ctx *c, struct lm_seq **out);
void lm_seq_release(struct lm_seq *s); /* NULL-safe; frees the slot */
uint32_t lm_seq_pos(const struct lm_seq *s);

/* One sequence's part of a step. */
struct lm_input {
	struct lm_seq *seq;
	const int32_t *ids;       /* n token ids */
	uint32_t n;
	/* Rows [n_slot_rows][d] that replace the embedding where ids[t] ==
	 * image_id, in order (spec §5.4); every row must be used. */
	const float *slot_rows;
	uint32_t n_slot_rows;
	int32_t image_id;
	bool all_logits;          /* logits for every row, else the last only */
};

/* Run the inputs (distinct sequences) as one step. logits gets, input after
 * input, n rows (all_logits) or 1 row of n_vocab floats. */
int lm_ctx_step(struct lm_ctx *c, const struct lm_input *in, uint32_t n_in, float *logits);

#endif
