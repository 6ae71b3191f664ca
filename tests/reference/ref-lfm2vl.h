/* tests/reference/ref-lfm2vl.h — plain-C F32 reference of LFM2-VL (spec §3, §4).
 *
 * llama2.c style: every weight is dequantized to F32 once at load into plain
 * arrays, every buffer is allocated once, and the forward pass reads top to
 * bottom. It is the yardstick for the Vulkan graphs and is itself checked
 * against the transformers goldens (tests/test-reference.c). Speed is not a
 * goal; clarity and exact adherence to the spec's HF profile are.
 *
 * Model vs state: a ref_model is immutable for the LM (any number of
 * ref_state may run on it, one thread each); ref_vision_encode uses scratch
 * buffers inside the model, so one vision call at a time per model.
 * Errors: 0 or a negative errno; a one-line reason goes to err where given.
 */
#ifndef CAPTIOND_TESTS_REF_LFM2VL_H
#define CAPTIOND_TESTS_REF_LFM2VL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/hparams.h"

#define REF_IMAGE_TOKEN_ID 396
/* Largest single crop: max_image_tokens 256 · (2·2) patches. */
#define REF_MAX_PATCHES 1024
#define REF_MAX_IMAGE_TOKENS 256

/* Shapes: d = d_model, V = vocab, F = d_ff, hd = head_dim, nq = n_head·hd,
 * nk = n_head_kv·hd, L = l_cache. Matrices are row-major [out][in] (= GGUF
 * [in, out]): y[r] = Σ_c W[r·in + c]·x[c]. NULL where the layer kind lacks it. */
struct ref_lm_layer {
	float *attn_norm;   /* [d] operator_norm */
	float *ffn_norm;    /* [d] */
	float *ffn_gate;    /* [F][d] w1 */
	float *ffn_up;      /* [F][d] w3 */
	float *ffn_down;    /* [d][F] w2 */
	float *conv_in;     /* [3d][d] in_proj, rows B | C | x (conv layers) */
	float *conv_w;      /* [d][L] depthwise taps, tap L−1 = current token */
	float *conv_out;    /* [d][d] out_proj */
	float *wq;          /* [nq][d] (attention layers) */
	float *wk;          /* [nk][d] */
	float *wv;          /* [nk][d] */
	float *wo;          /* [d][nq] */
	float *q_norm;      /* [hd] */
	float *k_norm;      /* [hd] */
};

/* D = vision width, Fv = vision d_ff, p = patch size, P = projector hidden,
 * U = D·f² (unshuffled width). */
struct ref_vision_layer {
	float *ln1_w, *ln1_b;   /* [D] */
	float *wq, *bq;         /* [D][D], [D] */
	float *wk, *bk;         /* [D][D], [D] */
	float *wv, *bv;         /* [D][D], [D] */
	float *wo, *bo;         /* [D][D], [D] */
	float *ln2_w, *ln2_b;   /* [D] */
	float *up_w, *up_b;     /* [Fv][D], [Fv] */
	float *down_w, *down_b; /* [D][Fv], [D] */
};

/* Per-call vision scratch, sized for REF_MAX_PATCHES (n = patches). */
struct ref_vision_scratch {
	uint8_t *rgb;   /* [max crop pixels][3] resized crop */
	float *x;       /* [n][D] residual stream */
	float *xb;      /* [n][D] normed input */
	float *q, *k, *v; /* [n][D] */
	float *att;     /* [n] one row of scores */
	float *o;       /* [n][D] attention output before out_proj */
	float *hb;      /* [n][Fv] MLP hidden */
	float *patch;   /* [p·p·3] one flattened patch */
	float *pos;     /* [n][D] resized position embedding */
	float *u;       /* [U] one unshuffled token */
	float *t;       /* [P] projector hidden */
};

struct ref_model {
	struct lfm2_lm_hparams lm;
	struct ref_lm_layer layers[LFM2_MAX_LAYERS];
	float *tok_embd;        /* [V][d] token_embd, also the tied LM head */
	float *final_norm;      /* [d] token_embd_norm (the FINAL norm, spec §1.6) */

	bool has_vision;
	struct lfm2_vision_hparams vis;
	struct ref_vision_layer *vlayers; /* [vis.n_layer] */
	float *patch_w;         /* [D][p·p·3] patch embedding as a linear layer on (ky,kx,c) patches */
	float *patch_b;         /* [D] */
	float *pos_embd;        /* [n_pos][D] 16×16 grid, row-major (y, x) */
	float *post_ln_w, *post_ln_b; /* [D] */
	float *mm_norm_w, *mm_norm_b; /* [U] or NULL (projector LayerNorm absent) */
	float *mm1_w, *mm1_b;   /* [P][U], [P] */
	float *mm2_w, *mm2_b;   /* [d][P], [d] */
	struct ref_vision_scratch vs;

	void **allocs;          /* every buffer above, freed by destroy */
	size_t n_allocs, cap_allocs;
};

/* Load and dequantize both files (mmproj_path may be NULL: LM only). */
int ref_model_load(const char *lm_path, const char *mmproj_path, struct ref_model **out,
		   char *err, size_t err_size);
/* A model with seeded random weights and the given shapes (vis may be NULL),
 * for self-tests that need no file. */
int ref_model_create_random(const struct lfm2_lm_hparams *lm, const struct lfm2_vision_hparams *vis,
			    uint64_t seed, struct ref_model **out);
void ref_model_destroy(struct ref_model *m);

/* Per-sequence state: KV caches, conv states, position, scratch. */
struct ref_state {
	uint32_t n_ctx;         /* capacity in positions */
	uint32_t pos;           /* positions consumed so far */
	size_t conv_floats;     /* (L−1)·d, size of each conv state */
	float *kcache[LFM2_MAX_LAYERS]; /* attention layers: [n_ctx][nk], after QK-norm and RoPE */
	float *vcache[LFM2_MAX_LAYERS]; /* attention layers: [n_ctx][nk] */
	float *conv[LFM2_MAX_LAYERS];   /* conv layers: [L−1][d], row 0 the oldest s */
	float *x, *xb, *xb2;    /* [d] residual, normed, mixer/FFN output */
	float *q, *o;           /* [nq] queries, attention output */
	float *k, *v;           /* [nk] */
	float *att;             /* [n_ctx] */
	float *z;               /* [3d] in_proj output */
	float *hb, *hb2;        /* [F] */
};

int ref_state_create(const struct ref_model *m, uint32_t n_ctx, struct ref_state **out);
void ref_state_destroy(struct ref_state *s);
void ref_state_reset(struct ref_state *s);

/* Append n positions. ids[t] is a token id; where ids[t] == REF_IMAGE_TOKEN_ID
 * and slot_rows is not NULL the next row of slot_rows ([n_slot_rows][d]) is
 * the input instead (spec §5.4); every row must be used. logits ([n][V]) may
 * be NULL. Runs token by token through the decode path. -EINVAL for a bad id
 * or slot count, -ENOSPC past n_ctx. */
int ref_lm_forward(const struct ref_model *m, struct ref_state *s, const int32_t *ids, uint32_t n,
		   const float *slot_rows, uint32_t n_slot_rows, float *logits);

/* Independent whole-sequence implementation (layer by layer over all T
 * positions, causal mask, conv with left zero padding as HF): logits [n][V].
 * Used only to check ref_lm_forward. */
int ref_lm_forward_full(const struct ref_model *m, const int32_t *ids, uint32_t n,
			const float *slot_rows, uint32_t n_slot_rows, float *logits);

/* Prefill prompt then append n_gen argmax tokens (first maximum wins, as
 * torch.argmax); no stopping at EOS, no penalty. s must be fresh. */
int ref_generate_greedy(const struct ref_model *m, struct ref_state *s, const int32_t *prompt,
			uint32_t n_prompt, const float *slot_rows, uint32_t n_slot_rows,
			uint32_t n_gen, int32_t *out);
/* The decode half of ref_generate_greedy: s has consumed the prompt and
 * last_logits [V] are its last position's logits. */
int ref_greedy_continue(const struct ref_model *m, struct ref_state *s, const float *last_logits,
			uint32_t n_gen, int32_t *out);

/* Encode one image as a single crop: smart resize (HF, min/max tokens 64/256)
 * with the Pillow resampler when the size is not already a fixed point, then
 * the vision tower and projector. vision_out [n_patches][D] (post-LN),
 * proj_out [n_tokens][d]; both may be NULL; sized for REF_MAX_PATCHES and
 * REF_MAX_IMAGE_TOKENS. -ENOTSUP for an image that would be tiled. */
int ref_vision_encode(struct ref_model *m, const uint8_t *rgb, uint32_t w, uint32_t h,
		      uint32_t *crop_w, uint32_t *crop_h, float *vision_out, float *proj_out);

/* The ops, exposed for hand-checked unit cases. */
void ref_rmsnorm(float *out, const float *x, const float *w, uint32_t n, float eps);
void ref_rope_neox(float *x, uint32_t head_dim, uint32_t pos, float theta);
/* NaFlex position-table resize (spec §4.8): P0 [n][n][D] (row-major y, x) to
 * P [gh][gw][D], antialiased bilinear, align_corners false; width pass first,
 * then height, in f32 (PyTorch's separable order). */
int ref_pos_embd_resize(const float *P0, uint32_t n, uint32_t D, uint32_t gh, uint32_t gw, float *P);
/* One depthwise causal conv step over d channels: state [L−1][d] holds the
 * previous s values (row 0 oldest), w [d][L]; writes c and shifts the state. */
void ref_shortconv_step(float *c, float *state, const float *s, const float *w, uint32_t d,
			uint32_t l_cache);

#endif
