/* tests/test-image-plan.c — image geometry (spec §4.2–§4.4, §4.11) against the
 * spec's worked examples (HF column), and the Pillow-exact resampler
 * (tests/reference/ref-image) against outputs derived by hand from Pillow's
 * algorithm (spec §4.5). */
#include "model/image_plan.h"
#include "tests/check.h"
#include "tests/reference/ref-image.h"

#include <errno.h>
#include <math.h>
#include <string.h>

struct example {
	uint32_t w, h;
	bool tiled;
	uint32_t gw, gh;        /* 1, 1 when single */
	uint32_t crop_w, crop_h; /* single crop or thumbnail */
	uint32_t n_embd, n_positions;
};

/* Spec §4.11 worked examples, HF column (thumbnail on). */
static const struct example examples[] = {
	{ 256, 384, false, 1, 1, 256, 384, 96, 98 },
	{ 384, 680, false, 1, 1, 384, 672, 252, 254 },
	{ 1000, 3000, true, 1, 3, 288, 864, 1011, 1017 },
	{ 400, 300, false, 1, 1, 384, 288, 108, 110 }, /* the ties-to-even example */
	{ 640, 480, false, 1, 1, 576, 416, 234, 236 },
	{ 1280, 720, true, 2, 1, 672, 384, 764, 769 },
	{ 1920, 1080, true, 4, 2, 672, 384, 2300, 2311 },
	{ 1024, 1024, true, 2, 2, 512, 512, 1280, 1287 },
	{ 512, 288, false, 1, 1, 512, 288, 144, 146 },
};

static void test_worked_examples(void)
{
	struct image_plan_params p;
	image_plan_params_default(&p);
	for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++) {
		const struct example *e = &examples[i];
		struct image_plan plan;
		CHECK(image_plan_compute(&p, e->w, e->h, &plan) == 0);
		CHECKF(plan.tiled == e->tiled && plan.grid_w == e->gw && plan.grid_h == e->gh &&
			       plan.crop_w == e->crop_w && plan.crop_h == e->crop_h && plan.n_embd == e->n_embd &&
			       plan.n_positions == e->n_positions,
		       "%ux%u: got tiled %d grid %ux%u crop %ux%u N %u positions %u", e->w, e->h, plan.tiled,
		       plan.grid_w, plan.grid_h, plan.crop_w, plan.crop_h, plan.n_embd, plan.n_positions);
		CHECK(plan.n_crops == (e->tiled ? e->gw * e->gh + 1 : 1));
	}
	/* 1000x3000 without a thumbnail (HF LFM2-VL-450M): 768. */
	p.use_thumbnail = false;
	struct image_plan plan;
	CHECK(image_plan_compute(&p, 1000, 3000, &plan) == 0);
	CHECK(plan.n_embd == 768 && plan.n_positions == 768 + 2 + 3 && !plan.has_thumbnail);
}

static void test_square_rule(void)
{
	/* §4.4: a square image gets 3x3 tiles iff W·H > 0.5·512²·9 = 1 179 648. */
	struct image_plan_params p;
	image_plan_params_default(&p);
	uint32_t gw, gh;
	CHECK(image_plan_grid(&p, 1086, 1086, &gw, &gh) == 0 && gw == 2 && gh == 2); /* 1 179 396 */
	CHECK(image_plan_grid(&p, 1087, 1087, &gw, &gh) == 0 && gw == 3 && gh == 3); /* 1 181 569 */
	CHECK(image_plan_is_tiled(&p, 1086, 1086));
}

static void test_tiling_threshold(void)
{
	/* §4.2: tiled iff h0·w0 > 524 288 with h0, w0 rounded to 32 (max 16). */
	struct image_plan_params p;
	image_plan_params_default(&p);
	CHECK(!image_plan_is_tiled(&p, 1024, 512));  /* exactly 524 288: not tiled */
	CHECK(image_plan_is_tiled(&p, 1024, 544));
	CHECK(!image_plan_is_tiled(&p, 1039, 512));  /* 1039/32 = 32.47 rounds to 32 */
	p.do_splitting = false;
	CHECK(!image_plan_is_tiled(&p, 4000, 4000));
	struct image_plan plan;
	CHECK(image_plan_compute(&p, 4000, 4000, &plan) == 0 && !plan.tiled && plan.n_embd == 256);
}

static void test_min_tokens(void)
{
	/* 200x150 is below min_pixels. By §4.3 with 64 tokens: β = sqrt(65536/30000),
	 * 150β/32 = 6.93 → 224, 200β/32 = 9.24 → 320: 7·10 = 70 tokens. With 32:
	 * β = sqrt(32768/30000), 4.90 → 160, 6.53 → 224: 5·7 = 35 tokens. */
	struct image_plan_params p;
	image_plan_params_default(&p);
	struct image_plan plan;
	CHECK(image_plan_compute(&p, 200, 150, &plan) == 0);
	CHECK(plan.crop_w == 320 && plan.crop_h == 224 && plan.n_embd == 70);
	p.min_image_tokens = 32;
	CHECK(image_plan_compute(&p, 200, 150, &plan) == 0);
	CHECK(plan.crop_w == 224 && plan.crop_h == 160 && plan.n_embd == 35);
	/* A fixed point stays put whatever the minimum. */
	CHECK(image_plan_compute(&p, 256, 256, &plan) == 0 && plan.crop_w == 256 && plan.n_embd == 64);
}

static void test_ties(void)
{
	/* round() ties to even (spec §4.1): 400/32 = 12.5 → 12, 464/32 = 14.5 → 14,
	 * 336/32 = 10.5 → 10, but 368/32 = 11.5 → 12. */
	struct image_plan_params p;
	image_plan_params_default(&p);
	uint32_t w, h;
	CHECK(image_plan_smart_resize(&p, 400, 300, &w, &h) == 0 && w == 384 && h == 288);
	CHECK(image_plan_smart_resize(&p, 464, 352, &w, &h) == 0 && w == 448 && h == 352);
	CHECK(image_plan_smart_resize(&p, 336, 352, &w, &h) == 0 && w == 320 && h == 352);
	CHECK(image_plan_smart_resize(&p, 368, 352, &w, &h) == 0 && w == 384 && h == 352); /* 11.5 → 12 */
}

static void test_bad_input(void)
{
	struct image_plan_params p;
	image_plan_params_default(&p);
	uint32_t w, h;
	struct image_plan plan;
	CHECK(image_plan_smart_resize(&p, 0, 10, &w, &h) == -EINVAL);
	CHECK(image_plan_compute(&p, 10, 0, &plan) == -EINVAL);
	p.patch_size = 0;
	CHECK(image_plan_compute(&p, 10, 10, &plan) == -EINVAL);
}

/* ---------------------------------------------------------------- resampler */

static void test_resize_identity(void)
{
	uint8_t src[37 * 23 * 3], dst[sizeof src];
	ref_image_generate(src, 37, 23, 5);
	memset(dst, 0, sizeof dst);
	CHECK(ref_image_resize_pil_bilinear(src, 37, 23, dst, 37, 23) == 0);
	CHECK(memcmp(src, dst, sizeof src) == 0);
}

static void test_resize_constant(void)
{
	/* Weights are normalised, so a constant image stays constant: 2:1 in both
	 * axes, 4:1 to a single pixel, and a 1x1 image upscaled. */
	uint8_t src[8 * 6 * 3], dst[8 * 6 * 3];
	memset(src, 173, sizeof src);
	CHECK(ref_image_resize_pil_bilinear(src, 8, 6, dst, 4, 3) == 0);
	bool ok = true;
	for (int i = 0; i < 4 * 3 * 3; i++)
		ok = ok && dst[i] == 173;
	CHECK(ok);
	CHECK(ref_image_resize_pil_bilinear(src, 4, 1, dst, 1, 1) == 0);
	CHECK(dst[0] == 173 && dst[1] == 173 && dst[2] == 173);
	const uint8_t one[3] = { 10, 200, 77 };
	CHECK(ref_image_resize_pil_bilinear(one, 1, 1, dst, 3, 5) == 0);
	ok = true;
	for (int i = 0; i < 15; i++)
		ok = ok && dst[3 * i] == 10 && dst[3 * i + 1] == 200 && dst[3 * i + 2] == 77;
	CHECK(ok);
}

/* A 16-sample ramp v[j] = 2j halved along one axis. By Pillow's rule
 * (scale 2, support 2, center 2o+1, window [2o−1, 2o+3) clipped) the interior
 * weights are 1/8, 3/8, 3/8, 1/8 — exact in 22-bit fixed point — so output o
 * is round(2·(2o + 0.5)) = 4o + 1. At the left edge the window is [0, 3) with
 * weights 3/7, 3/7, 1/7: (0·3 + 2·3 + 4)/7 = 10/7 → 1; at the right edge
 * [13, 16) with 1/7, 3/7, 3/7: (26 + 3·28 + 3·30)/7 = 200/7 → 29. */
static void check_ramp(const uint8_t *out, size_t stride, const char *axis)
{
	for (int o = 0; o < 8; o++) {
		int want = o == 0 ? 1 : o == 7 ? 29 : 4 * o + 1;
		for (int c = 0; c < 3; c++)
			CHECKF(out[o * stride + c] == want, "%s ramp o=%d c=%d: %d, want %d", axis, o, c,
			       out[o * stride + c], want);
	}
}

static void test_resize_ramp(void)
{
	uint8_t src[16 * 3], dst[8 * 3];
	for (int j = 0; j < 16; j++)
		src[3 * j] = src[3 * j + 1] = src[3 * j + 2] = (uint8_t)(2 * j);
	/* 16x1 → 8x1: only the horizontal pass runs. */
	CHECK(ref_image_resize_pil_bilinear(src, 16, 1, dst, 8, 1) == 0);
	check_ramp(dst, 3, "horizontal");
	/* 1x16 → 1x8: one pixel wide, only the vertical pass. Same bytes. */
	CHECK(ref_image_resize_pil_bilinear(src, 1, 16, dst, 1, 8) == 0);
	check_ramp(dst, 3, "vertical");

	/* 4x1 → 1x1 of 0, 10, 20, 30: scale 4, window [0, 4), weights
	 * tri((j − 1.5)/4) = .625, .875, .875, .625 (sum 3): exactly 15. */
	uint8_t r4[12] = { 0, 0, 0, 10, 10, 10, 20, 20, 20, 30, 30, 30 };
	CHECK(ref_image_resize_pil_bilinear(r4, 4, 1, dst, 1, 1) == 0 && dst[0] == 15);

	/* 2x1 → 4x1 upscale of 0, 100: centers .25, .75, 1.25, 1.75, support 1:
	 * half-pixel bilinear with clamped edges: 0, 25, 75, 100. */
	uint8_t two[6] = { 0, 0, 0, 100, 100, 100 };
	CHECK(ref_image_resize_pil_bilinear(two, 2, 1, dst, 4, 1) == 0);
	CHECK(dst[0] == 0 && dst[3] == 25 && dst[6] == 75 && dst[9] == 100);
}

static void test_generator(void)
{
	/* The contract formula at a few points, evaluated by hand:
	 * (x, y, c) = (9, 17, 1), S = 2: 9·2·7 + 17·2·5 + ((1 ^ 2)·23) + 82 + 153/64
	 * = 126 + 170 + 69 + 82 + 2 = 449 → 193. */
	uint8_t img[20 * 20 * 3];
	ref_image_generate(img, 20, 20, 2);
	CHECK(img[(17 * 20 + 9) * 3 + 1] == 193);
	/* (0, 0, c), S = 2: 82. */
	CHECK(img[0] == 82 && img[1] == 82 && img[2] == 82);
}

int main(void)
{
	test_worked_examples();
	test_square_rule();
	test_tiling_threshold();
	test_min_tokens();
	test_ties();
	test_bad_input();
	test_resize_identity();
	test_resize_constant();
	test_resize_ramp();
	test_generator();
	return check_report();
}
