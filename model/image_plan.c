/* model/image_plan.c — tiling decision, smart resize, grid selection and
 * token counts of LFM2-VL (spec §4.2–§4.4, §4.11), HF profile. */
#include "model/image_plan.h"

#include <errno.h>
#include <math.h>

void image_plan_params_default(struct image_plan_params *p)
{
	*p = (struct image_plan_params){
		.patch_size = 16,
		.downsample = 2,
		.min_image_tokens = 64,
		.max_image_tokens = 256,
		.tile_size = 512,
		.min_tiles = 2,
		.max_tiles = 10,
		.max_pixels_tolerance = 2.0,
		.do_splitting = true,
		.use_thumbnail = true,
	};
}

static bool params_ok(const struct image_plan_params *p)
{
	return p->patch_size > 0 && p->patch_size <= 1024 && p->downsample > 0 && p->downsample <= 16 &&
	       p->max_image_tokens > 0 && p->max_image_tokens <= 1u << 20 &&
	       p->min_image_tokens <= p->max_image_tokens && p->tile_size > 0 && p->tile_size <= 1u << 16 &&
	       p->min_tiles >= 1 && p->min_tiles <= p->max_tiles && p->max_tiles <= 1024;
}

/* Python's round(): nearest, ties to even. rint() does that in the default
 * rounding mode (FE_TONEAREST), which nothing here changes. */
static double round_half_even(double x)
{
	return rint(x);
}

/* Pixels per image token: (patch · f)². */
static double pixels_per_token(const struct image_plan_params *p)
{
	double a = (double)p->patch_size * p->downsample;
	return a * a;
}

int image_plan_smart_resize(const struct image_plan_params *p, uint32_t w, uint32_t h,
			    uint32_t *out_w, uint32_t *out_h)
{
	if (!params_ok(p) || w == 0 || h == 0)
		return -EINVAL;
	/* All in double, like HF's Python floats; sizes < 2^32 are exact. */
	double a = (double)p->patch_size * p->downsample; /* alignment, 32 */
	double min_px = p->min_image_tokens * pixels_per_token(p);
	double max_px = p->max_image_tokens * pixels_per_token(p);
	double H = h, W = w;
	double hb = fmax(a, round_half_even(H / a) * a);
	double wb = fmax(a, round_half_even(W / a) * a);
	if (hb * wb > max_px) {
		double beta = sqrt(H * W / max_px);
		hb = fmax(a, floor(H / beta / a) * a);
		wb = fmax(a, floor(W / beta / a) * a);
	} else if (hb * wb < min_px) {
		double beta = sqrt(min_px / (H * W));
		hb = ceil(H * beta / a) * a;
		wb = ceil(W * beta / a) * a;
	}
	/* An extreme aspect ratio can push one side past what fits a u32. */
	if (hb > UINT32_MAX || wb > UINT32_MAX)
		return -EINVAL;
	*out_w = (uint32_t)wb;
	*out_h = (uint32_t)hb;
	return 0;
}

bool image_plan_is_tiled(const struct image_plan_params *p, uint32_t w, uint32_t h)
{
	if (!params_ok(p) || !p->do_splitting || w == 0 || h == 0)
		return false;
	double a = (double)p->patch_size * p->downsample;
	/* max with the patch size (16), not the alignment: spec §4.2. */
	double h0 = fmax(p->patch_size, round_half_even(h / a) * a);
	double w0 = fmax(p->patch_size, round_half_even(w / a) * a);
	return h0 * w0 > p->max_image_tokens * pixels_per_token(p) * p->max_pixels_tolerance;
}

int image_plan_grid(const struct image_plan_params *p, uint32_t w, uint32_t h,
		    uint32_t *grid_w, uint32_t *grid_h)
{
	if (!params_ok(p) || w == 0 || h == 0)
		return -EINVAL;
	double aspect = (double)w / h;
	double area = (double)w * h;
	double tile_area = (double)p->tile_size * p->tile_size;
	uint32_t best_w = 1, best_h = 1;
	double best_diff = INFINITY;
	/* Candidates by ascending tile count, as HF sorts them. Within one count
	 * HF's order is a Python set's; it only matters for an exact tie between
	 * two grids of the same count, which the second rule then resolves the
	 * same way whichever comes first unless the area test flips (spec §4.4). */
	for (uint32_t n = p->min_tiles; n <= p->max_tiles; n++) {
		for (uint32_t gw = 1; gw <= n; gw++) {
			if (n % gw != 0)
				continue;
			uint32_t gh = n / gw;
			double diff = fabs(aspect - (double)gw / gh);
			if (diff < best_diff) {
				best_w = gw;
				best_h = gh;
				best_diff = diff;
			} else if (diff == best_diff && area > 0.5 * tile_area * gw * gh) {
				best_w = gw;
				best_h = gh;
			}
		}
	}
	*grid_w = best_w;
	*grid_h = best_h;
	return 0;
}

int image_plan_compute(const struct image_plan_params *p, uint32_t w, uint32_t h,
		       struct image_plan *out)
{
	uint32_t cw, ch;
	int ret = image_plan_smart_resize(p, w, h, &cw, &ch);
	if (ret < 0)
		return ret;
	uint32_t a = p->patch_size * p->downsample;
	/* The smart size never exceeds max_pixels, so this product is small. */
	uint32_t n_crop = (cw / a) * (ch / a);
	struct image_plan plan = { .crop_w = cw, .crop_h = ch, .grid_w = 1, .grid_h = 1 };
	if (image_plan_is_tiled(p, w, h)) {
		ret = image_plan_grid(p, w, h, &plan.grid_w, &plan.grid_h);
		if (ret < 0)
			return ret;
		uint32_t tiles = plan.grid_w * plan.grid_h;
		uint32_t per_tile = (p->tile_size / a) * (p->tile_size / a);
		plan.tiled = true;
		plan.has_thumbnail = p->use_thumbnail && tiles != 1;
		plan.n_crops = tiles + (plan.has_thumbnail ? 1 : 0);
		plan.n_embd = per_tile * tiles + (plan.has_thumbnail ? n_crop : 0);
		/* image_start + per tile a row/col marker + thumbnail marker + image_end */
		plan.n_positions = plan.n_embd + 2 + tiles + (plan.has_thumbnail ? 1 : 0);
	} else {
		plan.n_crops = 1;
		plan.n_embd = n_crop;
		plan.n_positions = n_crop + 2; /* image_start, image_end */
	}
	*out = plan;
	return 0;
}
