/* vk/ops_lm.h — the ops the LFM2 decoder needs beyond vk/ops.h (spec §3, §5.4,
 * §7.2): embedding rows, gated short convolution, QK-norm + RoPE + KV-cache
 * write, GQA attention over the cache, SwiGLU, repetition penalty, argmax.
 *
 * Same rules as vk/ops.h: every op records into a gpu_recorder between begin
 * and submit, checks types, shapes and ranges on the host (logging the
 * label), and returns 0, -EINVAL, -ENOTSUP, -E2BIG or -ENOSPC. Activations are
 * F32 gpu_tensors in ggml order (ne[0] contiguous; one token per row).
 *
 * Batches. A decode step or a prefill chunk is n_tok tokens (rows of the
 * activations) belonging to n_seq sequences; the tokens of one sequence are
 * consecutive rows, in position order. Two small int32 tables in GPU memory
 * (written by the host per step, e.g. in a GPU_MEM_UPLOAD buffer) say which
 * is which; gpu_lm_batch_tables() fills them:
 *   toks [n_tok][GPU_TOK_FIELDS]: { pos, slot }
 *   seqs [n_seq][GPU_SEQ_FIELDS]: { tok0, n_tok, slot, n_past }
 * pos: the token's absolute position (RoPE angle and KV-cache row); slot: the
 * sequence's state slot (conv state row, KV-cache region); tok0: its first
 * row in the batch; n_past: positions its cache held before this batch (so
 * its tokens are at n_past .. n_past + n_tok − 1). Shaders re-check every
 * entry against the push-constant bounds and skip a bad one (never an
 * out-of-range access); results for such an entry are undefined.
 *
 * State layouts (per layer; allocate them in GPU_MEM_SCRATCH):
 *   conv state   F32 [2·d, n_slots]: row = slot; elements 0..d−1 hold
 *                s[t−2], d..2d−1 hold s[t−1] (ref_shortconv_step's [L−1][d],
 *                row 0 oldest). Zero it when a slot starts a new sequence.
 *   KV cache     K and V each F16, Q8_0 or Q4_0 (both the same type)
 *                [hd·n_kv, n_slots·n_ctx]: row slot·n_ctx + pos holds the
 *                n_kv heads of that position (head g at elements g·hd ..
 *                g·hd + hd − 1; quantized: ggml blocks of 32 along the row,
 *                model/quant.h, so a head is hd/32 whole blocks). K after
 *                QK-norm and RoPE, V raw (spec §3.6). Per position for
 *                LFM2-350M (6 attention layers, 8 kv heads of 64): F16
 *                12 KiB (llama.cpp's default), Q8_0 6.4 KiB, Q4_0 3.4 KiB.
 */
#ifndef CAPTIOND_VK_OPS_LM_H
#define CAPTIOND_VK_OPS_LM_H

#include <stdint.h>

#include "vk/ops.h"

#define GPU_TOK_FIELDS 2 /* pos, slot */
#define GPU_SEQ_FIELDS 4 /* tok0, n_tok, slot, n_past */

/* n int32 values at a byte offset (a multiple of 4) of a buffer. */
struct gpu_i32s {
	struct gpu_buffer *buffer;
	uint64_t offset;
	uint32_t n;
};

struct gpu_lm_batch {
	uint32_t n_tok;       /* rows of the activations */
	uint32_t n_seq;
	uint32_t max_seq_tok; /* the largest n_tok of one sequence (sizes grids) */
	uint32_t max_keys;    /* the largest n_past + n_tok (splits attention); 0: n_ctx */
	struct gpu_i32s toks; /* n = n_tok · GPU_TOK_FIELDS */
	struct gpu_i32s seqs; /* n = n_seq · GPU_SEQ_FIELDS */
};

/* Host side: fill the two tables for n_seq sequences given each one's slot,
 * n_past and n_tok (in batch order). toks holds GPU_TOK_FIELDS · Σ n_tok
 * ints, seqs GPU_SEQ_FIELDS · n_seq. Returns Σ n_tok, or -EINVAL (overflow,
 * a sequence with no token). *max_seq_tok gets the largest n_tok. */
int gpu_lm_batch_tables(uint32_t n_seq, const uint32_t *slot, const uint32_t *n_past,
			const uint32_t *n_tok, int32_t *toks, int32_t *seqs, uint32_t *max_seq_tok);

struct gpu_kv_cache {
	struct gpu_tensor k, v; /* F16, Q8_0 or Q4_0 [hd·n_kv, n_slots·n_ctx] each, same type and shape */
	uint32_t n_ctx;         /* positions per slot */
	/* F32 scratch of any shape for split attention (flash-decoding): a step
	 * of n rows splits each sequence's keys into at most
	 * floats / (n · n_head · (hd + 2)) pieces; buffer NULL: never split. */
	struct gpu_tensor part;
};

/* --- embeddings (spec §3.2, §5.4) --- */

/* dst row i = dequantized row ids[i] of table.
 * table: [K, V] F32, F16, Q8_0, Q4_0 or Q6_K (token_embd); ids: n ints;
 * dst: F32 [K, n]. An id outside [0, V) gives a row of zeros. */
int gpu_op_get_rows(struct gpu_recorder *rec, const char *label, const struct gpu_tensor *table,
		    const struct gpu_i32s *ids, const struct gpu_tensor *dst);

/* dst row rows[i] = src row i (scatter; e.g. projector rows into the image
 * slots of an embedded prompt). src: F32 [K, n]; rows: n ints, distinct;
 * dst: F32 [K, N]. A row index outside [0, N) is skipped. */
int gpu_op_set_rows(struct gpu_recorder *rec, const char *label, const struct gpu_tensor *src,
		    const struct gpu_i32s *rows, const struct gpu_tensor *dst);

/* --- short convolution (spec §3.5) --- */

/* y = C ⊙ conv(B ⊙ x) for every token of the batch, causal per sequence with
 * the slot's conv state as left context; the state is then replaced by the
 * sequence's last two s = B ⊙ x (read and written in place).
 * z: F32 [3d, n_tok] (in_proj output, thirds B | C | x; may be a strided
 * view); conv_w: F32 [3, d] (GGUF shortconv.conv.weight, tap 2 = current);
 * state: F32 [2d, n_slots] (layout above); y: F32 [d, n_tok]. Uses the seqs
 * table only (L_cache must be 3). */
int gpu_op_shortconv(struct gpu_recorder *rec, const char *label, const struct gpu_tensor *z,
		     const struct gpu_tensor *conv_w, const struct gpu_tensor *state,
		     const struct gpu_lm_batch *batch, const struct gpu_tensor *y);

/* --- attention (spec §3.6) --- */

struct gpu_rope_params {
	uint32_t head_dim; /* 64; even, at most 256 */
	float eps;         /* QK RMSNorm epsilon (rms_eps) */
	float theta;       /* RoPE base (rope_theta) */
};

/* Per head: RMSNorm (weight [hd], shared by all heads) then NeoX RoPE at the
 * token's pos (pairs (i, i + hd/2)), for q in place and for k; k (normed,
 * rotated) and v (as is) are written to the cache row slot·n_ctx + pos,
 * rounded to F16 or quantized per block as model/quant.c's quantize_row
 * (Q8_0, Q4_0; hd a multiple of 32). q: F32 [hd·n_head, n_tok]; k, v: F32 [hd·n_kv, n_tok]
 * (views of a fused projection are fine); q_norm, k_norm: F32 [hd, 1].
 * Uses the toks table; a pos ≥ n_ctx or slot ≥ n_slots is skipped. */
int gpu_op_rope_qk_norm(struct gpu_recorder *rec, const char *label, const struct gpu_tensor *q,
			const struct gpu_tensor *k, const struct gpu_tensor *v,
			const struct gpu_tensor *q_norm, const struct gpu_tensor *k_norm,
			const struct gpu_lm_batch *batch, const struct gpu_kv_cache *kv,
			const struct gpu_rope_params *p);

/* out = softmax(q·Kᵀ / sqrt(hd)) · V per query head, GQA (query head h reads
 * kv head h / (n_head / n_kv)), causal: the token at position n_past + i of a
 * sequence sees cache rows 0 .. n_past + i of its slot (so run
 * gpu_op_rope_qk_norm on the batch first). Online softmax in f32 over tiles
 * of the cache. Decode (many sequences of different lengths) and prefill
 * (many tokens) are the same call; hd 32, 64, 128 or 256. When the grid is
 * small (few sequences, one token each) and kv->part has room, each
 * sequence's keys are split over several workgroups and a second dispatch
 * merges the pieces (flash-decoding). q: F32 [hd·n_head, n_tok]; out: F32
 * [hd·n_head, n_tok], may be q (each workgroup reads its own query head
 * before it writes it). Uses the seqs table. */
int gpu_op_attention(struct gpu_recorder *rec, const char *label, const struct gpu_tensor *q,
		     const struct gpu_kv_cache *kv, const struct gpu_lm_batch *batch,
		     uint32_t head_dim, const struct gpu_tensor *out);

/* --- FFN (spec §3.7) --- */

/* y = silu(gate) ⊙ up, elementwise. gate, up, y: F32 [F, n] (y may be gate
 * or up). For a fused gate|up projection pass two views of its rows (offset
 * and row_stride). */
int gpu_op_swiglu(struct gpu_recorder *rec, const char *label, const struct gpu_tensor *gate,
		  const struct gpu_tensor *up, const struct gpu_tensor *y);

/* --- fused mat-vec (decode) --- */

/* What gpu_op_mul_mat_vec_fused folds around y = W·x; NULL members are off. */
struct gpu_mmv_fusion {
	const struct gpu_tensor *norm;     /* F32 [K, 1]: x ← RMSNorm(x)·norm first (eps) */
	float eps;
	const struct gpu_tensor *up;       /* W's type and shape: y ← silu(W·x) ⊙ (up·x) */
	const struct gpu_tensor *residual; /* F32 [M, n]: y ← y + residual last (may be y) */
};

/* gpu_op_mul_mat_vec (vk/ops.h) with its neighbours in the same dispatch:
 * operator_norm → in_proj / q / k / v (norm), ffn_norm → w1, w3 → SwiGLU
 * (norm + up), out_proj / w2 + residual (residual). W: [K, M] F32, F16,
 * Q8_0, Q4_0 or Q6_K; x: F32 [K, n]; y: F32 [M, n], not overlapping x. */
int gpu_op_mul_mat_vec_fused(struct gpu_recorder *rec, const char *label,
			     const struct gpu_tensor *w, const struct gpu_tensor *x,
			     const struct gpu_mmv_fusion *f, const struct gpu_tensor *y);

/* --- sampling (spec §7.2) --- */

/* HF repetition penalty, in place: for every token id whose bit is set in its
 * sequence's presence bitmap, z ← z·r if z < 0 else z / r.
 * logits: F32 [V, n_seq]; present: n_seq · ceil(V/32) words, sequence j's
 * bitmap at word j·ceil(V/32), id v is bit v % 32 of word v / 32. */
int gpu_op_repetition_penalty(struct gpu_recorder *rec, const char *label,
			      const struct gpu_tensor *logits, const struct gpu_i32s *present,
			      float penalty);

/* ids[j] = argmax of row j of logits (the first maximum wins, as
 * torch.argmax). logits: F32 [V, n_seq]; ids: n_seq ints. */
int gpu_op_argmax(struct gpu_recorder *rec, const char *label, const struct gpu_tensor *logits,
		  const struct gpu_i32s *ids);

#endif
