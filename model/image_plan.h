/* model/image_plan.h — image geometry of LFM2-VL (spec §4.1–§4.4, §4.11).
 *
 * Given a source image size, decides whether it is tiled, the tile grid, the
 * size of the single crop (or thumbnail) after smart resize, and how many
 * image embeddings and sequence positions the image block takes. HF profile:
 * round() is ties-to-even, computed in double, as Python's round() does
 * (spec §4.1 [DIVERGENCE] D3; LCPP rounds ties away from zero).
 *
 * Pure functions on plain structs: thread-safe, nothing allocates.
 * Errors: 0 or -EINVAL (zero size, or parameters that make no sense).
 */
#ifndef CAPTIOND_MODEL_IMAGE_PLAN_H
#define CAPTIOND_MODEL_IMAGE_PLAN_H

#include <stdbool.h>
#include <stdint.h>

struct image_plan_params {
	uint32_t patch_size;        /* encoder patch side in pixels (16) */
	uint32_t downsample;        /* pixel-unshuffle factor f (2) */
	uint32_t min_image_tokens;  /* 64 (LFM2.5-VL-450M recommends 32) */
	uint32_t max_image_tokens;  /* 256 */
	uint32_t tile_size;         /* 512 pixels */
	uint32_t min_tiles;         /* 2 */
	uint32_t max_tiles;         /* 10 */
	double max_pixels_tolerance; /* 2.0 */
	bool do_splitting;          /* tiling allowed */
	bool use_thumbnail;         /* add the smart-resized whole image after the tiles */
};

/* The HF/LCPP defaults of spec §4.1 (thumbnail on, as LCPP and most configs). */
void image_plan_params_default(struct image_plan_params *p);

struct image_plan {
	bool tiled;
	uint32_t grid_w, grid_h;    /* tile columns, rows (1, 1 when not tiled) */
	uint32_t crop_w, crop_h;    /* single crop, or thumbnail, after smart resize (pixels) */
	bool has_thumbnail;         /* tiled and thumbnail enabled */
	uint32_t n_crops;           /* crops to encode: tiles (+ thumbnail), or 1 */
	uint32_t n_embd;            /* image embeddings N (image slots) */
	uint32_t n_positions;       /* sequence positions of the whole image block (§4.11) */
};

/* §4.3: the smart-resized size of a w × h image (single crop or thumbnail). */
int image_plan_smart_resize(const struct image_plan_params *p, uint32_t w, uint32_t h,
			    uint32_t *out_w, uint32_t *out_h);
/* §4.2: true when the image is split into tiles (splitting must be enabled). */
bool image_plan_is_tiled(const struct image_plan_params *p, uint32_t w, uint32_t h);
/* §4.4: the tile grid (columns, rows) for a tiled w × h image. */
int image_plan_grid(const struct image_plan_params *p, uint32_t w, uint32_t h,
		    uint32_t *grid_w, uint32_t *grid_h);
/* Everything above plus the token and position counts of §4.11. */
int image_plan_compute(const struct image_plan_params *p, uint32_t w, uint32_t h,
		       struct image_plan *out);

#endif
