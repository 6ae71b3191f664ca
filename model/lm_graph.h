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
 * one sequence are consecutive and in position order. Two small tables
 * (struct lm_batch) say which pool slot and position each row has; the
 * per-sequence ops (short conv, QK-norm + RoPE + KV write, attention) read
 * them, the dense ops see only a [K, T] matrix. Prefill and decode are the same step (decode: one row per
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

enum lm_mem_kind { LM_MEM_WEIGHTS, LM_MEM_SCRATCH, LM_MEM_UPLOAD, LM_MEM_READBACK };

/* Which rows of a step belong to which sequence: two I32 tables in UPLOAD
 * memory, the layout of vk/ops_lm.h so the Vulkan kernels read them as is.
 *   toks [LM_TOK_FIELDS, n_tok]: { pos, slot } per row
 *   seqs [LM_SEQ_FIELDS, n_seq]: { tok0, n_tok, slot, n_past } per sequence
 * Rows of one sequence are consecutive and in position order. */
#define LM_TOK_FIELDS 2
#define LM_SEQ_FIELDS 4
struct lm_batch {
	uint32_t n_tok, n_seq;
	uint32_t max_seq_tok;  /* the largest n_tok of one sequence */
	uint32_t max_keys;     /* the largest n_past + n_tok: keys attention reads */
	struct lm_tensor toks, seqs;
};

/* Per-sequence state, one slot per sequence (n_slots slots of n_ctx
 * positions), per layer:
 *   conv state  F32 [(L−1)·d, n_slots]: the slot's last L−1 values of B⊙X,
 *               oldest first (spec §3.5); zeroed when a slot is taken.
 *   K, V cache  the context's kv_type (F32, F16, Q8_0 or Q4_0; ggml blocks
 *               along the row) [n_kv·hd, n_slots·n_ctx]: row slot·n_ctx +
 *               pos; K after QK-norm and RoPE, V raw (§3.6), each row
 *               quantized as a whole when written (quantize_row).
 *   part        F32 scratch, shared by every layer, for a backend that splits
 *               a sequence's keys over several workgroups (flash-decoding)
 *               and merges the pieces; ne[0] · ne[1] floats. */
struct lm_kv {
	struct lm_tensor k, v;
	uint32_t n_ctx;
	struct lm_tensor part;
};

/* What lm_backend.mul_mat_fused folds around y = W·x; NULL members are off.
 * Order: norm, the product(s), SwiGLU, residual. */
struct lm_fusion {
	const struct lm_tensor *norm;     /* F32 [K]: x ← RMSNorm(x, eps)·norm first */
	float eps;
	const struct lm_tensor *up;       /* W's type and shape: y ← silu(W·x) ⊙ (up·x) */
	const struct lm_tensor *residual; /* F32 [M, n]: y ← y + residual last (may be y) */
};

/* A weight of a model file and the graph tensor that will view it. */
struct lm_weight {
	struct lm_tensor *dst;
	const struct gguf_tensor *src;
};

/* Lay the weights back to back (aligned) in one WEIGHTS block of a backend's
 * memory and upload them (every graph's loader: LM and vision). *mem and
 * *bytes get the block; each dst gets its mem and offset. */
int lm_weights_upload(void *ctx, const char *backend_name,
		      int (*alloc)(void *ctx, enum lm_mem_kind kind, uint64_t bytes, const char *name, void **mem),
		      int (*write)(void *ctx, void *mem, uint64_t offset, const void *src, uint64_t bytes),
		      int (*flush)(void *ctx), const char *label, struct lm_weight *w, size_t n,
		      void **mem, uint64_t *bytes, char *err, size_t err_size);

struct lm_backend {
	void *ctx;
	const char *name;
	uint32_t kv_type;  /* what KV caches hold unless the context asks for another */
	uint32_t kv_types; /* bit 1u << type for each KV type the ops take (0: kv_type only) */
	/* Memory: sized at start-up only. UPLOAD is written by write() every
	 * step; READBACK read by read() after submit. */
	int (*alloc)(void *ctx, enum lm_mem_kind kind, uint64_t bytes, const char *name, void **mem);
	void (*free)(void *ctx, void *mem);
	int (*write)(void *ctx, void *mem, uint64_t offset, const void *src, uint64_t bytes);
	int (*flush)(void *ctx); /* what write() queued reaches the device */
	int (*read)(void *ctx, void *mem, uint64_t offset, void *dst, uint64_t bytes);
	int (*begin)(void *ctx);
	int (*submit_wait)(void *ctx); /* also ends a recording cut short by an error */

	/* y[:, i] = table[:, ids[i]]. table: [K, R] F32 or a weight type;
	 * ids: I32 [n, 1]; y: F32 [K, n]. */
	int (*get_rows)(void *ctx, const char *label, const struct lm_tensor *table,
			const struct lm_tensor *ids, const struct lm_tensor *y);
	/* y[:, rows[i]] = src[:, i] (scatter). src F32 [K, n]; rows I32 [n, 1]. */
	int (*set_rows)(void *ctx, const char *label, const struct lm_tensor *src,
			const struct lm_tensor *rows, const struct lm_tensor *y);
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
	/* Gated short conv of spec §3.5 for every row: z F32 [3d, n] (B | C | X),
	 * w F32 [L, d], state the layer's [(L−1)·d, n_slots] (left context, then
	 * replaced by each sequence's last L−1 values of B⊙X); y F32 [d, n]. */
	int (*shortconv)(void *ctx, const char *label, const struct lm_tensor *z,
			 const struct lm_tensor *w, const struct lm_tensor *state,
			 const struct lm_batch *b, const struct lm_tensor *y);
	/* Per head: RMSNorm (q_norm / k_norm, [hd]) then NeoX RoPE at the row's
	 * pos, q in place; k (normed, rotated) and v written to the cache at
	 * slot·n_ctx + pos. q F32 [hd·n_head, n], k, v F32 [hd·n_kv, n]. */
	int (*qk_norm_rope_kv)(void *ctx, const char *label, const struct lm_tensor *q,
			       const struct lm_tensor *k, const struct lm_tensor *v,
			       const struct lm_tensor *q_norm, const struct lm_tensor *k_norm,
			       const struct lm_batch *b, const struct lm_kv *kv, uint32_t head_dim,
			       float eps, float theta);
	/* Causal GQA of spec §3.6 over the cache (row at n_past + i sees slot
	 * rows 0 .. n_past + i), scale 1/sqrt(hd), softmax in f32. q, o F32
	 * [hd·n_head, n], o not q. */
	int (*attention)(void *ctx, const char *label, const struct lm_tensor *q,
			 const struct lm_kv *kv, const struct lm_batch *b, uint32_t head_dim,
			 const struct lm_tensor *o);
	/* ids[j] = argmax of row j (first maximum wins). logits F32 [V, n];
	 * ids I32 [n, 1]. May be NULL: the argmax then runs on the host. */
	int (*argmax)(void *ctx, const char *label, const struct lm_tensor *logits,
		      const struct lm_tensor *ids);
	/* Optional (NULL: the graph runs the plain ops): y = W·x with the
	 * neighbours of struct lm_fusion in one op, used for steps of at most
	 * fused_max_rows rows (decode) and for the fusions set in fuse
	 * (LM_FUSE_*): each trades a dispatch for work redone per output row
	 * (the norm), so a backend picks the ones that pay on it. x F32 [K, n],
	 * not overlapping y. */
	int (*mul_mat_fused)(void *ctx, const char *label, const struct lm_tensor *w,
			     const struct lm_tensor *x, const struct lm_fusion *f,
			     const struct lm_tensor *y);
	uint32_t fused_max_rows;
	uint32_t fuse;
	/* Optional (NULL: lm_ctx_step_candidates is -ENOTSUP): the min-p
	 * candidates of sampling per row of logits F32 [V, n] (left as is):
	 * ids whose logit, penalized where bits I32 [ceil(V/32), n] has the id's
	 * bit, is >= t·(zmax/t + log_min_p) minus a slack (model/sampling.h).
	 * out I32 [1 + 2·cap, n]: count (0xffffffff: use the whole row), then
	 * (id, raw logit bits) pairs in any order; full F32 [V, n] gets the raw
	 * row where the count is 0xffffffff or above cap. */
	int (*sample_candidates)(void *ctx, const char *label, const struct lm_tensor *logits,
				 const struct lm_tensor *bits, float penalty, float t, float log_min_p,
				 uint32_t cap, const struct lm_tensor *out, const struct lm_tensor *full);
};

/* Which fusions the graph makes with mul_mat_fused. */
#define LM_FUSE_NORM 1u     /* operator_norm into in_proj / q / k / v, embedding_norm into the head */
#define LM_FUSE_FFN 2u      /* ffn_norm, w1, w3 and SwiGLU as one */
#define LM_FUSE_RESIDUAL 4u /* the residual adds into out_proj / w2 */
#define LM_FUSE_ALL 7u

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
 * steps of up to max_rows rows, of which up to max_logit_rows want logits;
 * KV caches of the backend's kv_type. */
int lm_ctx_create(struct lm_model *m, uint32_t n_slots, uint32_t n_ctx, uint32_t max_rows,
		  uint32_t max_logit_rows, struct lm_ctx **out);

/* The same with every choice named. kv_type: TENSOR_F32, TENSOR_F16,
 * TENSOR_Q8_0 or TENSOR_Q4_0 (model/quant.h), one the backend takes
 * (-ENOTSUP otherwise), used when kv_type_set. */
struct lm_ctx_params {
	uint32_t n_slots, n_ctx, max_rows, max_logit_rows;
	uint32_t kv_type;
	bool kv_type_set; /* false: the backend's kv_type */
};
int lm_ctx_create_params(struct lm_model *m, const struct lm_ctx_params *p, struct lm_ctx **out);

/* "f16", "q8_0", "q4_0" (also "f32") ⇄ the tensor type; -EINVAL / NULL when unknown. */
int lm_kv_type_parse(const char *name, uint32_t *type);
const char *lm_kv_type_name(uint32_t type);
void lm_ctx_destroy(struct lm_ctx *c);

struct lm_ctx_memory {
	uint64_t pool_bytes;     /* KV caches and conv states */
	uint64_t kv_bytes;       /* of which the KV caches */
	uint32_t kv_type;
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

/* Run the inputs (distinct sequences) as one step. Logit rows are, input
 * after input, n rows (all_logits) or 1. logits (may be NULL: not read back)
 * gets them as n_vocab floats each; next (may be NULL) the argmax of each
 * (first maximum wins), computed on the device when the backend can. A
 * failed step leaves the sequences in it undefined: release them. */
int lm_ctx_step(struct lm_ctx *c, const struct lm_input *in, uint32_t n_in, float *logits,
		int32_t *next);

/* Sampling without the logits on the host: a step as lm_ctx_step whose
 * logit rows (at most LM_CAND_MAX_ROWS, one per input: no all_logits) stay
 * on the device; per row r, out[r·LM_CAND_STRIDE] is the count of ids at or
 * above the row's min-p bound (see lm_backend.sample_candidates), then
 * LM_CAND_CAP (id, raw logit as float bits) pairs. Where the count is above
 * LM_CAND_CAP (0xffffffff included) lm_ctx_read_logits gives the raw row.
 * bits: [n rows][ceil(V/32)] presence bitmaps (model/sampling.h layout). */
#define LM_CAND_CAP 64u
#define LM_CAND_STRIDE (1u + 2u * LM_CAND_CAP)
#define LM_CAND_MAX_ROWS 256u
struct lm_cand_params {
	const uint32_t *bits;
	float penalty; /* 1: none */
	float t, log_min_p;
};
int lm_ctx_step_candidates(struct lm_ctx *c, const struct lm_input *in, uint32_t n_in,
			   const struct lm_cand_params *p, uint32_t *out);
/* Row r of the last candidates step's raw logits (only rows whose count is
 * above LM_CAND_CAP hold them). */
int lm_ctx_read_logits(struct lm_ctx *c, uint32_t row, float *out);

/* Greedy decoding without the host between steps: k_steps one-token steps
 * of n_seq distinct sequences recorded into one submit. Step j feeds each
 * sequence's token (first[i] at j = 0, else its step j − 1 argmax, which the
 * device writes straight into the ids step j reads) at its position + j;
 * the position tables of all k steps are written up front. out gets
 * [n_seq][k_steps]: out[i·k_steps + j] is the argmax after step j (first
 * maximum wins), so out[i·k_steps + k_steps − 1] is the next token to feed.
 * Every sequence's position advances by k_steps.
 *
 * For the caller that stops a sequence inside a chunk (EOS, max tokens):
 * the tokens after its stop are to be discarded, and the sequence is over
 * (its state holds the discarded steps too): release it, which resets the
 * slot for the next acquire; its extra KV rows are past any new sequence's
 * positions until overwritten, so they are never read. n_seq ≤
 * max_logit_rows, 1 ≤ k_steps ≤ LM_CHAIN_MAX. A backend without a device
 * argmax runs the one-step loop instead (same tokens). Errors as
 * lm_ctx_step (-ENOSPC: a sequence would pass n_ctx). */
#define LM_CHAIN_MAX 16
int lm_ctx_decode_greedy(struct lm_ctx *c, struct lm_seq *const *seqs, const int32_t *first,
			 uint32_t n_seq, uint32_t k_steps, int32_t *out);

#endif
