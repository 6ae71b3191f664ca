/* tests/test-reference.c — the plain-C reference (tests/reference/ref-lfm2vl)
 * against itself and against the transformers goldens.
 *
 *   test-reference self     hand-checked ops; on a random in-memory model:
 *                           incremental decode = whole-sequence recompute,
 *                           split prefill = one prefill, interleaved
 *                           sequences = each alone, determinism; and, once
 *                           make-model and the GGUF reader exist, the same on
 *                           the generated tiny model.
 *   test-reference goldens  every .gguf in tests/data/goldens: regenerate its
 *                           models with make-model, check their sha256, then
 *                           compare vision, projector, logits and greedy.
 *
 * Tolerances against the goldens (f32 torch on CPU vs our f32 C): the maths
 * is the same, only the summation order differs (torch uses blocked/FMA
 * sums, we sum left to right). Each f32 dot product then differs by about
 * sqrt(n)·2^-24 relative, ~1e-6 at these widths; through 2 vision + 6 LM
 * layers that stays ~1e-5 of the largest value. The bound is 1e-4 of the
 * largest magnitude (10x headroom) and NMSE ≤ 1e-8; the oracle's own
 * f32-vs-f64 logit delta is printed beside ours for scale. Greedy tokens must
 * match exactly.
 */
#include "tests/check.h"
#include "tests/golden-models.h"
#include "tests/reference/ref-image.h"
#include "tests/reference/ref-lfm2vl.h"

#include <errno.h>
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"

/* ---------------------------------------------------------------- helpers */

struct diff {
	double max_abs;  /* max |a − b| */
	double max_ref;  /* max |b| */
	double nmse;     /* Σ(a − b)² / Σb² */
};

static struct diff compare(const float *a, const float *b, size_t n)
{
	struct diff d = { 0 };
	double se = 0, sr = 0;
	for (size_t i = 0; i < n; i++) {
		double e = (double)a[i] - b[i];
		d.max_abs = fmax(d.max_abs, fabs(e));
		d.max_ref = fmax(d.max_ref, fabs((double)b[i]));
		se += e * e;
		sr += (double)b[i] * b[i];
	}
	d.nmse = sr > 0 ? se / sr : se;
	return d;
}

static bool all_finite(const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(x[i]))
			return false;
	return true;
}

/* The tiny preset of the contract (docs/test-models.md). */
static void tiny_hparams(struct lfm2_lm_hparams *lm, struct lfm2_vision_hparams *v)
{
	*lm = (struct lfm2_lm_hparams){
		.n_layer = 6, .d_model = 256, .d_ff = 512, .n_head = 4, .n_head_kv = 2, .head_dim = 64,
		.n_vocab = 2048, .l_cache = 3, .context_length = 4096, .rms_eps = 1e-5f, .rope_theta = 1e6f,
		.n_attention_layers = 2, .bos_id = 1, .eos_id = 7, .pad_id = 0, .add_bos = true,
	};
	lm->is_attention[2] = lm->is_attention[5] = true;
	*v = (struct lfm2_vision_hparams){
		.patch_size = 16, .width = 128, .d_ff = 256, .n_layer = 2, .n_head = 2, .head_dim = 64,
		.n_pos = 256, .pos_grid = 16, .image_size = 256, .projection_dim = 256, .scale_factor = 2,
		.proj_hidden = 256, .has_input_norm = true, .use_gelu = true, .ln_eps = 1e-6f,
		.proj_ln_eps = 1e-5f, .image_mean = { 0.5f, 0.5f, 0.5f }, .image_std = { 0.5f, 0.5f, 0.5f },
	};
}

/* A §5.1-shaped prompt with n_slots image slots (token ids arbitrary but
 * fixed): BOS, im_start, "user\n", image_start, slots, image_end, text,
 * im_end, "\n", im_start, "assistant\n". Returns its length. */
static uint32_t make_prompt(int32_t *ids, uint32_t n_slots, int32_t text_base)
{
	uint32_t n = 0;
	ids[n++] = 1;
	ids[n++] = 6;
	ids[n++] = 600;
	ids[n++] = 498;
	for (uint32_t i = 0; i < n_slots; i++)
		ids[n++] = REF_IMAGE_TOKEN_ID;
	ids[n++] = 499;
	for (int32_t i = 0; i < 5; i++)
		ids[n++] = text_base + 37 * i;
	ids[n++] = 7;
	ids[n++] = 700;
	ids[n++] = 6;
	ids[n++] = 701;
	return n;
}

/* ---------------------------------------------------------------- hand cases */

static void test_hand_ops(void)
{
	/* RMSNorm, spec §3.4: x = (3, 4), w = (1, 2): mean x² = 12.5. */
	float x[2] = { 3, 4 }, w[2] = { 1, 2 }, y[2];
	ref_rmsnorm(y, x, w, 2, 1e-5f);
	double r = 1.0 / sqrt(12.5 + 1e-5);
	CHECK(fabs(y[0] - 3 * r) < 1e-6 && fabs(y[1] - 8 * r) < 1e-6);

	/* NeoX RoPE, spec §3.6, head_dim 4, p = 1, θ = 1e6: pairs (0, 2) and
	 * (1, 3), angles 1 and 1e6^(-1/2) = 1e-3. */
	float q[4] = { 1, 2, 3, 4 };
	ref_rope_neox(q, 4, 1, 1e6f);
	CHECK(fabs(q[0] - (1 * cos(1.0) - 3 * sin(1.0))) < 1e-6);
	CHECK(fabs(q[2] - (3 * cos(1.0) + 1 * sin(1.0))) < 1e-6);
	CHECK(fabs(q[1] - (2 * cos(1e-3) - 4 * sin(1e-3))) < 1e-6);
	CHECK(fabs(q[3] - (4 * cos(1e-3) + 2 * sin(1e-3))) < 1e-6);
	/* Position 0 is the identity. */
	float q0[4] = { 1, 2, 3, 4 };
	ref_rope_neox(q0, 4, 0, 1e6f);
	CHECK(q0[0] == 1 && q0[1] == 2 && q0[2] == 3 && q0[3] == 4);

	/* Short conv, spec §3.5, one channel, taps (1, 10, 100) with tap 2 on the
	 * current token, s = 1, 2, 3 from zero history: 100, 210, 321. */
	float taps[3] = { 1, 10, 100 }, state[2] = { 0, 0 }, c;
	const float s[3] = { 1, 2, 3 };
	const float want[3] = { 100, 210, 321 };
	for (int t = 0; t < 3; t++) {
		ref_shortconv_step(&c, state, &s[t], taps, 1, 3);
		CHECKF(c == want[t], "conv step %d: %g, want %g", t, c, want[t]);
	}
	CHECK(state[0] == 2 && state[1] == 3); /* the last two s values, oldest first */
}

static void test_pos_resize(void)
{
	/* P0[y][x] = x + 100·y, 16x16, one channel, resized to 8 rows x 32 cols.
	 * Columns (16 → 32, upsampling: support 1, center (o + .5)/2): plain
	 * half-pixel bilinear, x' = o/2 − 1/4, clamped to 0 at o = 0 and to 15 at
	 * o = 31. Rows (16 → 8: support 2, center 2o + 1, window [2o − 1, 2o + 3)
	 * with weights 1/8, 3/8, 3/8, 1/8): y' = 2o + 1/2 inside; at o = 0 the
	 * window is [0, 3) with weights 3/7, 3/7, 1/7: y' = 5/7; at o = 7 it is
	 * [13, 16) with 1/7, 3/7, 3/7: y' = (13 + 42 + 45)/7 = 100/7. */
	float P0[16 * 16], P[8 * 32];
	for (int y = 0; y < 16; y++)
		for (int x = 0; x < 16; x++)
			P0[y * 16 + x] = (float)(x + 100 * y);
	CHECK(ref_pos_embd_resize(P0, 16, 1, 8, 32, P) == 0);
	double worst = 0;
	for (int y = 0; y < 8; y++)
		for (int x = 0; x < 32; x++) {
			double xs = x == 0 ? 0 : x == 31 ? 15 : x / 2.0 - 0.25;
			double ys = y == 0 ? 5.0 / 7 : y == 7 ? 100.0 / 7 : 2 * y + 0.5;
			worst = fmax(worst, fabs(P[y * 32 + x] - (xs + 100 * ys)));
		}
	CHECKF(worst < 1e-3, "position resize off by %g", worst);
	/* 16 → 16 is the identity. */
	float Q[16 * 16];
	CHECK(ref_pos_embd_resize(P0, 16, 1, 16, 16, Q) == 0 && memcmp(P0, Q, sizeof Q) == 0);
}

/* The projector of spec §4.10 restated directly from the formulas, in
 * double, from the vision output: pixel unshuffle with channel
 * dy·(f·D) + dx·D + c and tokens row-major, [LayerNorm ε 1e-5], mm.1, erf
 * GELU, mm.2. Returns the max abs difference to proj. */
static double projector_restated(const struct ref_model *m, const float *vis, uint32_t gw, uint32_t gh,
				 const float *proj)
{
	size_t D = m->vis.width, f = m->vis.scale_factor, U = D * f * f, P = m->vis.proj_hidden;
	size_t d = m->lm.d_model;
	double *u = malloc(U * sizeof *u), *t = malloc(P * sizeof *t), worst = 0;
	for (size_t Y = 0; u && t && Y < gh / f; Y++)
		for (size_t X = 0; X < gw / f; X++) {
			for (size_t dy = 0; dy < f; dy++)
				for (size_t dx = 0; dx < f; dx++)
					for (size_t c = 0; c < D; c++)
						u[dy * f * D + dx * D + c] = vis[((f * Y + dy) * gw + f * X + dx) * D + c];
			if (m->mm_norm_w) {
				double mu = 0, var = 0;
				for (size_t i = 0; i < U; i++)
					mu += u[i] / U;
				for (size_t i = 0; i < U; i++)
					var += (u[i] - mu) * (u[i] - mu) / U;
				for (size_t i = 0; i < U; i++)
					u[i] = (u[i] - mu) / sqrt(var + 1e-5) * m->mm_norm_w[i] + m->mm_norm_b[i];
			}
			for (size_t r = 0; r < P; r++) {
				double a = m->mm1_b[r];
				for (size_t i = 0; i < U; i++)
					a += (double)m->mm1_w[r * U + i] * u[i];
				t[r] = 0.5 * a * (1 + erf(a / sqrt(2.0)));
			}
			for (size_t r = 0; r < d; r++) {
				double a = m->mm2_b[r];
				for (size_t i = 0; i < P; i++)
					a += (double)m->mm2_w[r * P + i] * t[i];
				worst = fmax(worst, fabs(a - proj[(Y * (gw / f) + X) * d + r]));
			}
		}
	if (!u || !t)
		worst = INFINITY;
	free(u);
	free(t);
	return worst;
}

/* ---------------------------------------------------------------- self-consistency */

/* Everything that can be checked without a reference file, on model m with
 * an image of w × h. */
static void check_model_consistency(struct ref_model *m, const char *what, uint32_t w, uint32_t h, bool all)
{
	uint32_t V = m->lm.n_vocab, d = m->lm.d_model;
	uint8_t *rgb = malloc((size_t)w * h * 3);
	float *proj = malloc((size_t)REF_MAX_IMAGE_TOKENS * d * sizeof(float));
	float *proj2 = malloc((size_t)REF_MAX_IMAGE_TOKENS * d * sizeof(float));
	float *vis = malloc((size_t)REF_MAX_PATCHES * m->vis.width * sizeof(float));
	int32_t ids[REF_MAX_IMAGE_TOKENS + 32], ids2[REF_MAX_IMAGE_TOKENS + 32];
	float *la = NULL, *lb = NULL;
	struct ref_state *sa = NULL, *sb = NULL;
	if (!rgb || !proj || !proj2 || !vis) {
		CHECK(!"out of memory");
		goto out;
	}
	ref_image_generate(rgb, w, h, 1);
	uint32_t cw = 0, ch = 0, cw2 = 0, ch2 = 0;
	CHECK(ref_vision_encode(m, rgb, w, h, &cw, &ch, vis, proj) == 0);
	uint32_t n_slots = (cw / 32) * (ch / 32), n_patch = (cw / 16) * (ch / 16);
	CHECKF(all_finite(vis, (size_t)n_patch * m->vis.width) && all_finite(proj, (size_t)n_slots * d),
	       "%s: non-finite vision output", what);
	double pw = projector_restated(m, vis, cw / 16, ch / 16, proj);
	CHECKF(pw < 1e-4, "%s: projector differs from its restatement by %g", what, pw);
	/* Determinism: a second encode is bit-identical. */
	CHECK(ref_vision_encode(m, rgb, w, h, &cw2, &ch2, NULL, proj2) == 0);
	CHECKF(cw2 == cw && ch2 == ch && memcmp(proj, proj2, (size_t)n_slots * d * sizeof(float)) == 0,
	       "%s: vision encode not deterministic", what);
	/* A size that would be tiled is refused, not mis-handled. */
	uint32_t tw, th;
	CHECK(ref_vision_encode(m, rgb, 1, 1, &tw, &th, NULL, NULL) == 0); /* tiny: upscaled, fine */
	uint8_t *big = calloc((size_t)1600 * 1000 * 3, 1);
	CHECK(big && ref_vision_encode(m, big, 1600, 1000, &tw, &th, NULL, NULL) == -ENOTSUP);
	free(big);

	uint32_t n = make_prompt(ids, n_slots, 800);
	la = malloc((size_t)(n + 24) * V * sizeof(float));
	lb = malloc((size_t)(n + 24) * V * sizeof(float));
	if (!la || !lb || ref_state_create(m, n + 32, &sa) < 0 || ref_state_create(m, n + 32, &sb) < 0) {
		CHECK(!"out of memory");
		goto out;
	}
	/* Incremental (token by token) vs whole-sequence recompute. */
	CHECK(ref_lm_forward(m, sa, ids, n, proj, n_slots, la) == 0);
	CHECK(ref_lm_forward_full(m, ids, n, proj, n_slots, lb) == 0);
	struct diff df = compare(la, lb, (size_t)n * V);
	CHECKF(df.max_abs <= 1e-5 * fmax(1, df.max_ref), "%s: incremental vs full: max abs %g (max %g)", what,
	       df.max_abs, df.max_ref);
	CHECK(all_finite(la, (size_t)n * V));
	printf("%s: %ux%u -> crop %ux%u, %u slots, %u positions; incremental vs full max abs %.3g (max |logit| %.3g)\n",
	       what, w, h, cw, ch, n_slots, n, df.max_abs, df.max_ref);

	if (!all) {
		/* Greedy runs end to end and is deterministic. */
		int32_t g1[8], g2[8];
		ref_state_reset(sa);
		ref_state_reset(sb);
		CHECK(ref_generate_greedy(m, sa, ids, n, proj, n_slots, 8, g1) == 0);
		CHECK(ref_generate_greedy(m, sb, ids, n, proj2, n_slots, 8, g2) == 0);
		CHECKF(memcmp(g1, g2, sizeof g1) == 0, "%s: greedy not deterministic", what);
		goto out;
	}
	/* Split prefill (two calls, the cut after the image block) = one call. */
	uint32_t cut = n_slots + 6;
	ref_state_reset(sb);
	CHECK(ref_lm_forward(m, sb, ids, cut, proj, n_slots, lb) == 0);
	CHECK(ref_lm_forward(m, sb, ids + cut, n - cut, NULL, 0, lb + (size_t)cut * V) == 0);
	CHECKF(memcmp(la, lb, (size_t)n * V * sizeof(float)) == 0, "%s: split prefill differs", what);
	/* Bad slot count and capacity errors. */
	CHECK(ref_lm_forward(m, sb, ids, n, proj, n_slots - 1, NULL) == -EINVAL);
	CHECK(ref_lm_forward(m, sb, ids, n, proj, n_slots, NULL) == -ENOSPC);

	/* Greedy decode vs one full recompute of prompt + the first 23 generated
	 * tokens: its logits at position n − 1 + i must pick gen[i], for every i. */
	int32_t gen[24];
	ref_state_reset(sa);
	CHECK(ref_generate_greedy(m, sa, ids, n, proj, n_slots, 24, gen) == 0);
	/* Continuing from a full prefill gives the same tokens. */
	int32_t gen2[24];
	ref_state_reset(sb);
	CHECK(ref_lm_forward(m, sb, ids, n, proj, n_slots, la) == 0);
	CHECK(ref_greedy_continue(m, sb, la + (size_t)(n - 1) * V, 24, gen2) == 0);
	CHECK(memcmp(gen, gen2, sizeof gen) == 0);
	memcpy(ids2, ids, n * sizeof(int32_t));
	memcpy(ids2 + n, gen, 23 * sizeof(int32_t));
	CHECK(ref_lm_forward_full(m, ids2, n + 23, proj, n_slots, lb) == 0);
	bool greedy_ok = true;
	for (uint32_t i = 0; i < 24; i++) {
		const float *last = lb + (size_t)(n + i - 1) * V;
		uint32_t best = 0;
		for (uint32_t v = 1; v < V; v++)
			best = last[v] > last[best] ? v : best;
		greedy_ok = greedy_ok && (int32_t)best == gen[i];
	}
	CHECKF(greedy_ok, "%s: greedy decode differs from full recompute", what);
	printf("%s: greedy", what);
	for (int i = 0; i < 24; i++)
		printf(" %d", gen[i]);
	printf("\n");

	/* Two sequences interleaved position by position on one model = each alone. */
	int32_t other[REF_MAX_IMAGE_TOKENS + 32];
	uint32_t n2 = make_prompt(other, n_slots, 850);
	float *lo = malloc((size_t)n2 * V * sizeof(float)), *li = malloc((size_t)n2 * V * sizeof(float));
	if (lo && li) {
		struct ref_state *s1 = NULL, *s2 = NULL;
		CHECK(ref_state_create(m, n2, &s1) == 0 && ref_state_create(m, n, &s2) == 0);
		CHECK(ref_lm_forward(m, s1, other, n2, proj2, n_slots, lo) == 0); /* alone */
		ref_state_reset(s1);
		/* interleaved: the other sequence's slot rows go one call at a time */
		uint32_t slot_a = 0, slot_b = 0;
		for (uint32_t t = 0; t < n2 || t < n; t++) {
			if (t < n2) {
				bool is_slot = other[t] == REF_IMAGE_TOKEN_ID;
				CHECK(ref_lm_forward(m, s1, other + t, 1, is_slot ? proj2 + (size_t)slot_a * d : NULL,
						     is_slot, li + (size_t)t * V) == 0);
				slot_a += is_slot;
			}
			if (t < n) {
				bool is_slot = ids[t] == REF_IMAGE_TOKEN_ID;
				CHECK(ref_lm_forward(m, s2, ids + t, 1, is_slot ? proj + (size_t)slot_b * d : NULL,
						     is_slot, NULL) == 0);
				slot_b += is_slot;
			}
		}
		CHECKF(memcmp(lo, li, (size_t)n2 * V * sizeof(float)) == 0, "%s: interleaved sequences interfere",
		       what);
		ref_state_destroy(s1);
		ref_state_destroy(s2);
	}
	free(lo);
	free(li);
out:
	ref_state_destroy(sa);
	ref_state_destroy(sb);
	free(la);
	free(lb);
	free(rgb);
	free(proj);
	free(proj2);
	free(vis);
}

static void test_random_model(void)
{
	/* Half the tiny preset's widths: the same structure (both layer kinds,
	 * GQA, unshuffle, projector LayerNorm) at a quarter of the run time. */
	struct lfm2_lm_hparams lm;
	struct lfm2_vision_hparams v;
	tiny_hparams(&lm, &v);
	lm.d_model = 128;
	lm.d_ff = 256;
	lm.n_head = 2;
	lm.n_head_kv = 1;
	lm.n_vocab = 1024;
	v.width = 64;
	v.d_ff = 128;
	v.n_head = 2;
	v.head_dim = 32;
	v.projection_dim = 128;
	v.proj_hidden = 128;
	struct ref_model *m = NULL;
	CHECK(ref_model_create_random(&lm, &v, 42, &m) == 0);
	if (!m)
		return;
	/* 256x256: fixed point, 16x16 patches (position table used as is);
	 * 300x200: resampled to 288x192 and a resized position table. */
	check_model_consistency(m, "random half-tiny 256x256", 256, 256, true);
	ref_model_destroy(m);
	/* Without the projector LayerNorm (LFM2.5-VL-1.6B, spec §1.9). */
	v.has_input_norm = false;
	m = NULL;
	CHECK(ref_model_create_random(&lm, &v, 43, &m) == 0);
	if (m)
		check_model_consistency(m, "random half-tiny, no projector norm, 300x200", 300, 200, false);
	ref_model_destroy(m);
}

/* ---------------------------------------------------------------- make-model */

/* golden_get_model with the failure counted here. */
static char *get_model(const char *tool, const char *args, bool is_lm, const char *want_sha)
{
	char *path = golden_get_model(tool, args, is_lm, want_sha);
	CHECKF(path, "make-model %s: no model with sha256 %s", args, want_sha ? want_sha : "(any)");
	return path;
}

static void test_tiny_from_make_model(void)
{
	char *tool = golden_make_model_path();
	if (!tool) {
		printf("make-model not built yet: end-to-end run on the generated tiny model skipped\n");
		return;
	}
	char *lm = get_model(tool, "--preset tiny --lm-type Q4_0 --seed 1", true, NULL);
	char *mm = get_model(tool, "--preset tiny --mmproj-type Q8_0 --seed 1", false, NULL);
	struct ref_model *m = NULL;
	char err[256] = "";
	if (lm && mm) {
		int ret = ref_model_load(lm, mm, &m, err, sizeof err);
		CHECKF(ret == 0, "load tiny model: %s", err);
	}
	if (m)
		check_model_consistency(m, "make-model tiny Q4_0/Q8_0 256x384", 256, 384, false);
	ref_model_destroy(m);
	g_free(lm);
	g_free(mm);
	g_free(tool);
}

/* ---------------------------------------------------------------- goldens */

static uint32_t kv_u32(const struct gguf_file *f, const char *key)
{
	uint32_t v = 0;
	CHECKF(gguf_get_u32(f, key, &v) == 0, "golden key %s", key);
	return v;
}

/* A golden F32 tensor of shape [ne0, ne1]. */
static const float *golden_tensor(const struct gguf_file *f, const char *name, uint64_t ne0, uint64_t ne1)
{
	const struct gguf_tensor *t = gguf_find_tensor(f, name);
	bool ok = t && t->type == 0 /* F32 */ && t->ne[0] == ne0 && t->ne[1] == ne1 && t->ne[2] == 1 &&
		  t->ne[3] == 1;
	CHECKF(ok, "golden tensor %s missing or not F32 [%llu, %llu]", name, (unsigned long long)ne0,
	       (unsigned long long)ne1);
	return ok ? t->data : NULL;
}

static void check_diff(const char *golden, uint32_t b, const char *what, const float *ours, const float *ref,
		       size_t n)
{
	struct diff d = compare(ours, ref, n);
	double rel = d.max_abs / fmax(d.max_ref, 1e-30);
	printf("%s seq %u %s: max abs %.3g, max |ref| %.3g, relative %.3g, NMSE %.3g\n", golden, b, what,
	       d.max_abs, d.max_ref, rel, d.nmse);
	CHECKF(all_finite(ours, n), "%s seq %u %s: non-finite values", golden, b, what);
	CHECKF(d.max_abs <= 1e-4 * fmax(d.max_ref, 1.0) && d.nmse <= 1e-8,
	       "%s seq %u %s: max abs %g (max |ref| %g), NMSE %g", golden, b, what, d.max_abs, d.max_ref, d.nmse);
}

static void check_sequence(const char *golden, struct ref_model *m, const struct gguf_file *g, uint32_t b)
{
	char key[96];
#define KEY(s) (snprintf(key, sizeof key, "golden.seq.%u." s, b), key)
	uint32_t w = kv_u32(g, KEY("image_width")), h = kv_u32(g, KEY("image_height"));
	uint32_t seed = kv_u32(g, KEY("image_seed"));
	uint32_t gcw = kv_u32(g, KEY("crop_width")), gch = kv_u32(g, KEY("crop_height"));
	uint32_t n_ids = 0, n_greedy = 0;
	int32_t *ids = golden_kv_ints(g, KEY("input_ids"), &n_ids);
	int32_t *greedy = golden_kv_ints(g, KEY("greedy"), &n_greedy);
#undef KEY
	uint32_t V = m->lm.n_vocab, d = m->lm.d_model, D = m->vis.width;
	uint8_t *rgb = w && h && w <= 8192 && h <= 8192 ? malloc((size_t)w * h * 3) : NULL;
	float *vis = malloc((size_t)REF_MAX_PATCHES * D * sizeof(float));
	float *proj = malloc((size_t)REF_MAX_IMAGE_TOKENS * d * sizeof(float));
	float *logits = ids ? malloc((size_t)n_ids * V * sizeof(float)) : NULL;
	int32_t *gen = greedy ? malloc(n_greedy * sizeof *gen) : NULL;
	struct ref_state *s = NULL;
	if (!ids || !greedy || !rgb || !vis || !proj || !logits || !gen) {
		CHECKF(false, "%s seq %u: bad golden keys or out of memory", golden, b);
		goto out;
	}
	ref_image_generate(rgb, w, h, seed);
	uint32_t cw = 0, ch = 0;
	int ret = ref_vision_encode(m, rgb, w, h, &cw, &ch, vis, proj);
	CHECKF(ret == 0 && cw == gcw && ch == gch, "%s seq %u: encode %d, crop %ux%u, golden %ux%u", golden, b,
	       ret, cw, ch, gcw, gch);
	if (ret < 0 || cw != gcw || ch != gch)
		goto out;
	uint32_t n_patch = (cw / m->vis.patch_size) * (ch / m->vis.patch_size);
	uint32_t n_slots = n_patch / (m->vis.scale_factor * m->vis.scale_factor);
	char name[64];
	snprintf(name, sizeof name, "seq.%u.vision", b);
	const float *gv = golden_tensor(g, name, D, n_patch);
	snprintf(name, sizeof name, "seq.%u.projector", b);
	const float *gp = golden_tensor(g, name, d, n_slots);
	snprintf(name, sizeof name, "seq.%u.logits", b);
	const float *gl = golden_tensor(g, name, V, n_ids);
	if (gv)
		check_diff(golden, b, "vision", vis, gv, (size_t)n_patch * D);
	if (gp)
		check_diff(golden, b, "projector", proj, gp, (size_t)n_slots * d);

	/* Logits at every prompt position, from our own projector rows. */
	CHECK(ref_state_create(m, n_ids + n_greedy, &s) == 0);
	if (!s)
		goto out;
	ret = ref_lm_forward(m, s, ids, n_ids, proj, n_slots, logits);
	CHECKF(ret == 0, "%s seq %u: forward %d (slot count vs %u rows?)", golden, b, ret, n_slots);
	if (ret == 0 && gl)
		check_diff(golden, b, "logits", logits, gl, (size_t)n_ids * V);
	snprintf(name, sizeof name, "golden.seq.%u.f64_max_abs_diff_logits", b);
	float d64 = 0;
	if (gguf_get_f32(g, name, &d64) == 0)
		printf("%s seq %u: oracle's own f32-vs-f64 logit max abs %.3g\n", golden, b, d64);

	/* Greedy: the golden's length, exactly (no EOS stop: the oracle disables
	 * it), continuing from the prefill above (the same path as
	 * ref_generate_greedy, which the self test checks). */
	if (ret == 0)
		ret = ref_greedy_continue(m, s, logits + (size_t)(n_ids - 1) * V, n_greedy, gen);
	bool same = ret == 0 && memcmp(gen, greedy, n_greedy * sizeof *gen) == 0;
	CHECKF(same, "%s seq %u: greedy tokens differ from the golden", golden, b);
	if (!same) {
		fprintf(stderr, "  ours  :");
		for (uint32_t i = 0; i < n_greedy; i++)
			fprintf(stderr, " %d", gen[i]);
		fprintf(stderr, "\n  golden:");
		for (uint32_t i = 0; i < n_greedy; i++)
			fprintf(stderr, " %d", greedy[i]);
		fprintf(stderr, "\n");
	}
out:
	ref_state_destroy(s);
	free(ids);
	free(greedy);
	free(rgb);
	free(vis);
	free(proj);
	free(logits);
	free(gen);
}

static void check_golden(const char *path, const char *tool)
{
	char *base = g_path_get_basename(path);
	struct gguf_file *g = NULL;
	struct gguf_error ge = { 0 };
	char *lm_args = NULL, *mm_args = NULL, *lm_sha = NULL, *mm_sha = NULL, *lm = NULL, *mm = NULL;
	struct ref_model *m = NULL;
	if (gguf_file_open(path, &g, &ge) < 0) {
		char buf[400];
		gguf_error_format(&ge, path, buf, sizeof buf);
		CHECKF(false, "%s", buf);
		goto out;
	}
	lm_args = golden_kv_string(g, "golden.lm_args");
	mm_args = golden_kv_string(g, "golden.mmproj_args");
	lm_sha = golden_kv_string(g, "golden.lm_sha256");
	mm_sha = golden_kv_string(g, "golden.mmproj_sha256");
	CHECKF(lm_args && mm_args && lm_sha && mm_sha, "%s: golden.* model keys missing", base);
	if (!lm_args || !mm_args || !lm_sha || !mm_sha)
		goto out;
	lm = get_model(tool, lm_args, true, lm_sha);
	mm = get_model(tool, mm_args, false, mm_sha);
	if (!lm || !mm)
		goto out;
	char err[256] = "";
	int ret = ref_model_load(lm, mm, &m, err, sizeof err);
	CHECKF(ret == 0, "%s: load: %s", base, err);
	if (ret < 0)
		goto out;
	uint32_t n_seq = kv_u32(g, "golden.n_seq");
	CHECK(n_seq >= 1 && n_seq <= 16);
	/* A batch golden was run batched by the oracle; each sequence alone here
	 * must give the same numbers (batching must not change the maths). */
	for (uint32_t b = 0; b < n_seq && b < 16; b++)
		check_sequence(base, m, g, b);
out:
	ref_model_destroy(m);
	gguf_file_destroy(g);
	g_free(base);
	g_free(lm_args);
	g_free(mm_args);
	g_free(lm_sha);
	g_free(mm_sha);
	g_free(lm);
	g_free(mm);
}

static gint cmp_path(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_goldens(void)
{
	const char *src = getenv("CAPTIOND_SOURCE_ROOT");
	char *dir = g_build_filename(src ? src : ".", "tests", "data", "goldens", NULL);
	GPtrArray *files = g_ptr_array_new_with_free_func(g_free);
	GDir *dh = g_dir_open(dir, 0, NULL);
	for (const char *e; dh && (e = g_dir_read_name(dh));)
		if (g_str_has_suffix(e, ".gguf"))
			g_ptr_array_add(files, g_build_filename(dir, e, NULL));
	if (dh)
		g_dir_close(dh);
	g_free(dir);
	if (files->len == 0) {
		g_ptr_array_free(files, TRUE);
		check_skip("no goldens present in tests/data/goldens (written by tests/reference/oracle.py)");
	}
	char *tool = golden_make_model_path();
	if (!tool) {
		g_ptr_array_free(files, TRUE);
		check_skip("make-model not built (tests/tools/make-model): cannot regenerate the golden models");
	}
	g_ptr_array_sort(files, cmp_path); /* stable report order */
	for (guint i = 0; i < files->len; i++)
		check_golden(g_ptr_array_index(files, i), tool);
	g_free(tool);
	g_ptr_array_free(files, TRUE);
	return check_report();
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "goldens") == 0)
		return run_goldens();
	if (argc != 2 || strcmp(argv[1], "self") != 0) {
		fprintf(stderr, "usage: test-reference self|goldens\n");
		return 2;
	}
	test_hand_ops();
	test_pos_resize();
	test_random_model();
	test_tiny_from_make_model();
	return check_report();
}
