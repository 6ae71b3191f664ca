/* model/vision_graph.h — the LFM2-VL vision side (spec §4) written once
 * against a small backend interface, in the style of model/lm_graph.h:
 * frames in memory → preprocessing → SigLIP2-NaFlex encoder → projector →
 * one LM-width row per image slot.
 *
 * Per frame (model/image_plan.h decides): a frame that is a fixed point of
 * the smart resize is patchified in place (no resampling); otherwise it is
 * resized with Pillow's exact bilinear (a horizontal then a vertical pass,
 * a pass skipped when its side does not change); a tiled frame is resized
 * to 512·gw × 512·gh and its tiles are views into that image, followed by
 * the thumbnail when the plan has one. Every crop of every frame of a call
 * goes through the encoder together: the dense ops (patch embedding, LN,
 * linear layers) run once over all patches of the batch, attention and the
 * pixel unshuffle once per crop (a crop attends only to itself). One
 * begin … submit_wait for the whole batch.
 *
 * Position embedding: the 16×16 learned table resized to a crop's patch
 * grid (spec §4.8) depends only on the grid, so the backend computes it on
 * the host, the context keeps one table per grid seen and the patch
 * embedding adds it through its residual epilogue.
 *
 * Memory: vision_ctx_create reserves everything for a budget (frames,
 * crops, patches, bytes) built with vision_budget_add for the largest batch
 * the caller will encode; vision_ctx_encode allocates nothing on the device
 * and returns -ENOSPC when a batch exceeds the budget.
 *
 * Threads: a vision_model is immutable after create; a vision_ctx and its
 * backend context belong to one thread. Errors: 0 or negative errno.
 */
#ifndef CAPTIOND_MODEL_VISION_GRAPH_H
#define CAPTIOND_MODEL_VISION_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/hparams.h"
#include "model/image_plan.h"
#include "model/lm_graph.h" /* struct lm_tensor, enum lm_mem_kind */

struct gguf_file;

/* An 8-bit RGB (3) or RGBA/RGBx (4, fourth byte ignored) image in backend memory. */
struct vision_image {
	void *mem;
	uint64_t offset;
	uint32_t width, height, channels;
	uint64_t row_stride; /* bytes between rows; 0: width·channels */
};

/* A Pillow coefficient table for one axis n_in → n_out in backend memory. */
struct vision_coeffs {
	void *mem;
	uint64_t offset; /* bytes, a multiple of 4 */
	uint32_t n_in, n_out, ksize;
};

enum vision_act { VISION_ACT_NONE = 0, VISION_ACT_GELU_TANH = 1, VISION_ACT_GELU_ERF = 2 };

struct vision_backend {
	void *ctx;
	const char *name;
	/* Memory, as struct lm_backend. */
	int (*alloc)(void *ctx, enum lm_mem_kind kind, uint64_t bytes, const char *name, void **mem);
	void (*free)(void *ctx, void *mem);
	int (*write)(void *ctx, void *mem, uint64_t offset, const void *src, uint64_t bytes);
	int (*flush)(void *ctx);
	int (*read)(void *ctx, void *mem, uint64_t offset, void *dst, uint64_t bytes);
	int (*begin)(void *ctx);
	int (*submit_wait)(void *ctx);

	/* y = act(W·x + bias) + residual; W [K, M], x F32 [K, n], y F32 [M, n];
	 * bias [M] and residual [M, n] may be NULL; residual may be y. */
	int (*linear)(void *ctx, const char *label, const struct lm_tensor *w,
		      const struct lm_tensor *x, const struct lm_tensor *bias,
		      const struct lm_tensor *residual, enum vision_act act,
		      const struct lm_tensor *y);
	/* LayerNorm over ne0 (population variance); y may be x. */
	int (*layer_norm)(void *ctx, const char *label, const struct lm_tensor *x,
			  const struct lm_tensor *w, const struct lm_tensor *b, float eps,
			  const struct lm_tensor *y);
	/* Bidirectional attention, scale 1/sqrt(hd), of every crop over its own
	 * patches: segs is I32 [n_seg + 1] in UPLOAD memory, the crops' first
	 * columns and the total (crop i is columns [s[i], s[i+1])); max_rows
	 * the largest crop's. q, k, v may be row-strided views. */
	int (*attention)(void *ctx, const char *label, const struct lm_tensor *q,
			 const struct lm_tensor *k, const struct lm_tensor *v, uint32_t n_head,
			 const struct lm_tensor *segs, uint32_t max_rows,
			 const struct lm_tensor *o);
	/* 2×2 unshuffle of spec §4.10 of every crop: x [D, patches] → u [4D,
	 * tokens]; crops is I32 [4, n_crops] in UPLOAD memory, per crop its
	 * first patch, first token, grid width and tokens; max_tok the
	 * largest crop's tokens. */
	int (*pixel_unshuffle)(void *ctx, const char *label, const struct lm_tensor *x,
			       const struct lm_tensor *crops, uint32_t max_tok,
			       const struct lm_tensor *u);
	/* Normalised patches, (c, ky, kx) order: [768, (h/16)·(w/16)]. */
	int (*image_patches)(void *ctx, const char *label, const struct vision_image *img,
			     const float mean[3], const float std[3], const struct lm_tensor *patches);
	/* One Pillow pass (horizontal or vertical) into an RGB dst. */
	int (*image_resize)(void *ctx, const char *label, const struct vision_image *src,
			    const struct vision_coeffs *c, bool horizontal,
			    const struct vision_image *dst);
	/* Host helpers: Pillow's fixed-point coefficients (size, then fill),
	 * and the position table resize P0 [n·n][D] → P [gh·gw][D]. */
	int (*coeffs_size)(uint32_t n_in, uint32_t n_out, uint32_t *ksize, size_t *words);
	int (*coeffs_fill)(uint32_t n_in, uint32_t n_out, int32_t *dst, size_t words);
	int (*pos_resize)(const float *P0, uint32_t n, uint32_t D, uint32_t gh, uint32_t gw,
			  float *P);
};

struct vision_model;
struct vision_ctx;

/* Read the mmproj's hparams, place every tensor in one WEIGHTS allocation
 * and upload it (F32, F16 and Q8_0 files; per-tensor types). f may be
 * closed after create. */
int vision_model_create(const struct vision_backend *be, const struct gguf_file *f,
			struct vision_model **out, char *err, size_t err_size);
void vision_model_destroy(struct vision_model *m);
const struct lfm2_vision_hparams *vision_model_hparams(const struct vision_model *m);
uint64_t vision_model_weight_bytes(const struct vision_model *m);

/* What a batch may hold; add one frame size at a time. */
struct vision_budget {
	uint32_t frames, crops, patches, tokens;
	uint64_t frame_bytes;  /* input frames as given */
	uint64_t image_bytes;  /* resized images and intermediates (RGB) */
	uint64_t coeff_words;  /* resize coefficient tables */
};
int vision_budget_add(const struct vision_model *m, const struct image_plan_params *p,
		      uint32_t width, uint32_t height, uint32_t channels,
		      struct vision_budget *b);

int vision_ctx_create(struct vision_model *m, const struct image_plan_params *p,
		      const struct vision_budget *b, struct vision_ctx **out);
void vision_ctx_destroy(struct vision_ctx *c);
const struct image_plan_params *vision_ctx_params(const struct vision_ctx *c);

/* A frame in host memory, row-major, channels 3 or 4. */
struct vision_frame {
	const uint8_t *pixels;
	uint32_t width, height, channels;
	size_t row_stride; /* 0: width·channels */
};

/* Encode n frames in one pass. rows (n_rows floats of d each, d =
 * projection_dim) gets every frame's image-slot rows, frame after frame,
 * in slot order (spec §5.4); plans (may be NULL) each frame's plan. tower
 * (may be NULL) gets the post-LN encoder output [patches][D_v] of all
 * crops in the same order (for tests), n_tower_rows rows. */
int vision_ctx_encode(struct vision_ctx *c, const struct vision_frame *frames, uint32_t n,
		      float *rows, uint32_t n_rows, struct image_plan *plans,
		      float *tower, uint32_t n_tower_rows);

#endif
