/* tests/test-gpu-vision.c — the vision graph (model/vision_graph.h) on its
 * Vulkan binding (vk/lfm2_vision.h), lavapipe with the validation layer:
 *
 * goldens  every committed golden: the contract's procedural image(s) go in
 *          as RGB frames (all sequences of a file in one encode, so the
 *          batch2 case is two frames of different sizes in one pass); the
 *          crop size must equal the golden's, the encoder output (post-LN)
 *          must match seq.{b}.vision and the projector rows seq.{b}.projector.
 *          The 640×480 cases go through the GPU Pillow-exact resize; the
 *          512×288 and 256×384 ones through the exact path. The same frame
 *          as RGBA with padded rows must give bit-identical rows.
 * f16      an F16 mmproj (made by make-model; no golden exists for it)
 *          against the plain-C reference, 640×480 (resized) and 256×256
 *          (exact) in one batch.
 * tiled    a 1280×720 frame (tiled 2×1 + thumbnail, spec §4.11) against the
 *          plain-C reference (tests/reference): each 512×512 tile of the
 *          Pillow-resized 1024×512 image and the thumbnail encoded alone.
 *
 * Tolerances: the goldens' own float32-vs-float64 spread is ≤ 3.7e-6 on
 * these outputs (tests/reference/README.md); our kernels sum in another
 * order, over 2 layers of width 128. We require max |ours − golden| ≤ 5e-5
 * and NMSE ≤ 1e-10 (measured on lavapipe: max 4.3e-6, NMSE ≤ 1.1e-12 for
 * the F32 and the Q8_0 files alike — Q8_0 weights are dequantized exactly
 * on both sides, so they only change which numbers are summed).
 */
#include "tests/check.h"
#include "tests/golden-models.h"
#include "tests/gpu-test-util.h"
#include "tests/reference/ref-image.h"
#include "tests/reference/ref-lfm2vl.h"

#include <errno.h>
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "model/vision_graph.h"
#include "vk/lfm2_vision.h"
#include "vk/ops_matmul.h"

#define TOL_ABS 5e-5
#define TOL_NMSE 1e-10
/* With the cooperative-matrix kernel (f16 operands, vk/ops_matmul.h) the
 * rounding of activations and weights to f16 dominates. */
#define TOL_ABS_CM 5e-2
#define TOL_NMSE_CM 1e-4

static double tol_abs = TOL_ABS, tol_nmse = TOL_NMSE;
#define MAX_SEQ 4

static void compare(const char *what, const float *got, const float *want, size_t n)
{
	double num = 0, den = 0, maxd = 0;
	for (size_t i = 0; i < n; i++) {
		double d = (double)got[i] - want[i];
		num += d * d;
		den += (double)want[i] * want[i];
		if (!(fabs(d) <= maxd))
			maxd = fabs(d);
	}
	double nmse = den > 0 ? num / den : num;
	printf("  %-40s max|d| %.3g  nmse %.3g\n", what, maxd, nmse);
	CHECKF(maxd <= tol_abs && nmse <= tol_nmse, "%s: max|d| %g nmse %g over the bounds", what, maxd,
	       nmse);
}

static struct vision_model *open_model(const struct vision_backend *be, const char *tool,
				       const char *args, const char *sha, char **path_out)
{
	char *path = golden_get_model(tool, args, false, sha);
	CHECKF(path, "make-model %s", args);
	if (!path)
		return NULL;
	struct gguf_file *f = NULL;
	struct gguf_error ge = { 0 };
	struct vision_model *m = NULL;
	char err[256] = "";
	int ret = gguf_file_open(path, &f, &ge);
	if (ret == 0)
		ret = vision_model_create(be, f, &m, err, sizeof err);
	CHECKF(ret == 0, "mmproj %s: %d %s %s", path, ret, ge.message, err);
	gguf_file_destroy(f);
	if (path_out)
		*path_out = path;
	else
		g_free(path);
	return m;
}

static void run_golden(const struct vision_backend *be, const char *tool, const char *file)
{
	struct gguf_file *g = NULL;
	struct gguf_error ge = { 0 };
	CHECKF(gguf_file_open(file, &g, &ge) == 0, "%s: %s", file, ge.message);
	if (!g)
		return;
	char *base = g_path_get_basename(file);
	char *args = golden_kv_string(g, "golden.mmproj_args");
	char *sha = golden_kv_string(g, "golden.mmproj_sha256");
	uint32_t n_seq = 0;
	CHECK(gguf_get_u32(g, "golden.n_seq", &n_seq) == 0 && n_seq >= 1 && n_seq <= MAX_SEQ);
	struct vision_model *m = args && sha ? open_model(be, tool, args, sha, NULL) : NULL;
	struct vision_ctx *c = NULL;
	struct vision_frame fr[MAX_SEQ] = { 0 }, rgba = { 0 };
	uint8_t *pix[MAX_SEQ] = { 0 }, *pix4 = NULL;
	float *rows = NULL, *tower = NULL, *rows4 = NULL;
	if (!m || n_seq < 1 || n_seq > MAX_SEQ)
		goto out;
	const struct lfm2_vision_hparams *hp = vision_model_hparams(m);
	struct image_plan_params pp;
	image_plan_params_default(&pp);
	struct vision_budget bud = { 0 };
	for (uint32_t b = 0; b < n_seq; b++) {
		char key[64];
		uint32_t w = 0, h = 0, seed = 0;
		snprintf(key, sizeof key, "golden.seq.%u.image_width", b);
		CHECK(gguf_get_u32(g, key, &w) == 0);
		snprintf(key, sizeof key, "golden.seq.%u.image_height", b);
		CHECK(gguf_get_u32(g, key, &h) == 0);
		snprintf(key, sizeof key, "golden.seq.%u.image_seed", b);
		CHECK(gguf_get_u32(g, key, &seed) == 0);
		if (w == 0 || h == 0 || w > 4096 || h > 4096)
			goto out;
		pix[b] = g_malloc((size_t)w * h * 3);
		ref_image_generate(pix[b], w, h, seed);
		fr[b] = (struct vision_frame){ .pixels = pix[b], .width = w, .height = h, .channels = 3 };
		CHECK(vision_budget_add(m, &pp, w, h, 4, &bud) == 0);
	}
	CHECK(vision_ctx_create(m, &pp, &bud, &c) == 0);
	if (!c)
		goto out;
	rows = g_new(float, (size_t)bud.tokens * hp->projection_dim);
	tower = g_new(float, (size_t)bud.patches * hp->width);
	struct image_plan plans[MAX_SEQ];
	double t0 = gpu_test_now();
	int ret = vision_ctx_encode(c, fr, n_seq, rows, bud.tokens, plans, tower, bud.patches);
	printf("%s: %u frame(s), %u patches, %u tokens, encode %.1f ms\n", base, n_seq, bud.patches,
	       bud.tokens, (gpu_test_now() - t0) * 1e3);
	CHECKF(ret == 0, "%s: encode %d", base, ret);
	if (ret < 0)
		goto out;
	uint32_t t_off = 0, p_off = 0;
	for (uint32_t b = 0; b < n_seq; b++) {
		char key[64], what[96];
		uint32_t cw = 0, ch = 0;
		snprintf(key, sizeof key, "golden.seq.%u.crop_width", b);
		CHECK(gguf_get_u32(g, key, &cw) == 0);
		snprintf(key, sizeof key, "golden.seq.%u.crop_height", b);
		CHECK(gguf_get_u32(g, key, &ch) == 0);
		CHECKF(!plans[b].tiled && plans[b].crop_w == cw && plans[b].crop_h == ch,
		       "%s seq %u: crop %ux%u, golden %ux%u", base, b, plans[b].crop_w, plans[b].crop_h, cw, ch);
		const uint32_t np = (cw / 16) * (ch / 16), nt = plans[b].n_embd;
		snprintf(key, sizeof key, "seq.%u.vision", b);
		const struct gguf_tensor *tv = gguf_find_tensor(g, key);
		snprintf(key, sizeof key, "seq.%u.projector", b);
		const struct gguf_tensor *tp = gguf_find_tensor(g, key);
		bool ok = tv && tp && tv->type == 0 && tp->type == 0 && tv->ne[0] == hp->width &&
			  tv->ne[1] == np && tp->ne[0] == hp->projection_dim && tp->ne[1] == nt &&
			  p_off + np <= bud.patches && t_off + nt <= bud.tokens;
		CHECKF(ok, "%s seq %u: golden tensors missing or of another shape", base, b);
		if (!ok)
			break;
		snprintf(what, sizeof what, "%s seq %u vision [%u x %u]", base, b, hp->width, np);
		compare(what, tower + (size_t)p_off * hp->width, tv->data, (size_t)np * hp->width);
		snprintf(what, sizeof what, "%s seq %u projector [%u x %u]", base, b, hp->projection_dim, nt);
		compare(what, rows + (size_t)t_off * hp->projection_dim, tp->data, (size_t)nt * hp->projection_dim);
		p_off += np;
		t_off += nt;
	}
	/* RGBA with padded rows: same pixels, same result, bit for bit. */
	const uint32_t w = fr[0].width, h = fr[0].height, n0 = plans[0].n_embd;
	const size_t stride = (size_t)w * 4 + 12;
	pix4 = g_malloc0(stride * h);
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++) {
			memcpy(pix4 + y * stride + x * 4, pix[0] + ((size_t)y * w + x) * 3, 3);
			pix4[y * stride + x * 4 + 3] = 0x5a;
		}
	rgba = (struct vision_frame){ .pixels = pix4, .width = w, .height = h, .channels = 4, .row_stride = stride };
	rows4 = g_new(float, (size_t)n0 * hp->projection_dim);
	CHECK(vision_ctx_encode(c, &rgba, 1, rows4, n0, NULL, NULL, 0) == 0);
	CHECKF(memcmp(rows4, rows, (size_t)n0 * hp->projection_dim * 4) == 0,
	       "%s: RGBA frame differs from the RGB one", base);
out:
	for (uint32_t b = 0; b < MAX_SEQ; b++)
		g_free(pix[b]);
	g_free(pix4);
	g_free(rows);
	g_free(rows4);
	g_free(tower);
	vision_ctx_destroy(c);
	vision_model_destroy(m);
	g_free(args);
	g_free(sha);
	g_free(base);
	gguf_file_destroy(g);
}

/* 1280×720: 2×1 tiles of the 1024×512 Pillow resize, then the 672×384
 * thumbnail, each against the reference encoding that crop alone. */
static void run_tiled(const struct vision_backend *be, const char *tool, const char *file)
{
	struct gguf_file *g = NULL;
	struct gguf_error ge = { 0 };
	CHECK(gguf_file_open(file, &g, &ge) == 0);
	if (!g)
		return;
	char *args = golden_kv_string(g, "golden.mmproj_args");
	char *sha = golden_kv_string(g, "golden.mmproj_sha256");
	char *path = NULL;
	struct vision_model *m = args && sha ? open_model(be, tool, args, sha, &path) : NULL;
	struct ref_model *ref = NULL;
	struct vision_ctx *c = NULL;
	const uint32_t W = 1280, H = 720, GW = 2, GH = 1;
	uint8_t *img = g_malloc((size_t)W * H * 3), *big = g_malloc((size_t)512 * GW * 512 * GH * 3);
	uint8_t *tile = g_malloc(512 * 512 * 3);
	float *rows = NULL, *ref_rows = NULL;
	char err[256] = "";
	if (!m)
		goto out;
	{
		/* the reference loads the LM too: the golden's */
		char *lm_args = golden_kv_string(g, "golden.lm_args");
		char *lm_sha = golden_kv_string(g, "golden.lm_sha256");
		char *lm = lm_args ? golden_get_model(tool, lm_args, true, lm_sha) : NULL;
		CHECKF(lm && ref_model_load(lm, path, &ref, err, sizeof err) == 0, "reference: %s", err);
		g_free(lm);
		g_free(lm_args);
		g_free(lm_sha);
		if (!ref)
			goto out;
	}
	const struct lfm2_vision_hparams *hp = vision_model_hparams(m);
	const uint32_t d = hp->projection_dim;
	struct image_plan_params pp;
	image_plan_params_default(&pp);
	struct vision_budget bud = { 0 };
	CHECK(vision_budget_add(m, &pp, W, H, 3, &bud) == 0);
	CHECK(vision_ctx_create(m, &pp, &bud, &c) == 0);
	if (!c)
		goto out;
	ref_image_generate(img, W, H, 5);
	struct vision_frame fr = { .pixels = img, .width = W, .height = H, .channels = 3 };
	struct image_plan plan;
	rows = g_new(float, (size_t)bud.tokens * d);
	CHECK(vision_ctx_encode(c, &fr, 1, rows, bud.tokens, &plan, NULL, 0) == 0);
	CHECKF(plan.tiled && plan.grid_w == GW && plan.grid_h == GH && plan.has_thumbnail &&
	       plan.crop_w == 672 && plan.crop_h == 384 && plan.n_embd == 764,
	       "1280x720: plan %ux%u tiles, thumbnail %ux%u, %u slots (spec §4.11: 2x1, 672x384, 764)",
	       plan.grid_w, plan.grid_h, plan.crop_w, plan.crop_h, plan.n_embd);
	if (plan.n_embd != 764)
		goto out;
	ref_rows = g_new(float, (size_t)1024 * d);
	CHECK(ref_image_resize_pil_bilinear(img, W, H, big, 512 * GW, 512 * GH) == 0);
	for (uint32_t t = 0; t < GW * GH; t++) {
		uint32_t r = t / GW, col = t % GW, cw = 0, ch = 0;
		for (uint32_t y = 0; y < 512; y++)
			memcpy(tile + (size_t)y * 512 * 3,
			       big + ((size_t)(r * 512 + y) * 512 * GW + col * 512) * 3, 512 * 3);
		CHECK(ref_vision_encode(ref, tile, 512, 512, &cw, &ch, NULL, ref_rows) == 0);
		char what[64];
		snprintf(what, sizeof what, "1280x720 tile %u projector", t);
		compare(what, rows + (size_t)t * 256 * d, ref_rows, (size_t)256 * d);
	}
	uint32_t cw = 0, ch = 0;
	CHECK(ref_vision_encode(ref, img, W, H, &cw, &ch, NULL, ref_rows) == -ENOTSUP);
	/* the thumbnail: the reference's single-crop path on the image resized
	 * to the thumbnail size (a fixed point, so it does not resample again) */
	uint8_t *thumb = g_malloc((size_t)672 * 384 * 3);
	CHECK(ref_image_resize_pil_bilinear(img, W, H, thumb, 672, 384) == 0);
	CHECK(ref_vision_encode(ref, thumb, 672, 384, &cw, &ch, NULL, ref_rows) == 0 && cw == 672 && ch == 384);
	compare("1280x720 thumbnail projector", rows + (size_t)512 * d, ref_rows, (size_t)252 * d);
	g_free(thumb);
out:
	g_free(img);
	g_free(big);
	g_free(tile);
	g_free(rows);
	g_free(ref_rows);
	g_free(path);
	g_free(args);
	g_free(sha);
	ref_model_destroy(ref);
	vision_ctx_destroy(c);
	vision_model_destroy(m);
	gguf_file_destroy(g);
}

/* An F16 mmproj (no golden: the oracle ran F32 and Q8_0) against the
 * plain-C reference on the 640×480 frame (resized) and 256×256 (exact). */
static void run_f16(const struct vision_backend *be, const char *tool, const char *file)
{
	struct gguf_file *g = NULL;
	struct gguf_error ge = { 0 };
	CHECK(gguf_file_open(file, &g, &ge) == 0);
	if (!g)
		return;
	char *lm_args = golden_kv_string(g, "golden.lm_args");
	char *lm_sha = golden_kv_string(g, "golden.lm_sha256");
	char *lm = lm_args ? golden_get_model(tool, lm_args, true, lm_sha) : NULL;
	char *path = NULL;
	struct vision_model *m = open_model(be, tool, "--preset tiny --lm-type F32 --mmproj-type F16 --seed 1",
					    NULL, &path);
	struct ref_model *ref = NULL;
	struct vision_ctx *c = NULL;
	char err[256] = "";
	const uint32_t sizes[2][2] = { { 640, 480 }, { 256, 256 } };
	float *rows = NULL, *tower = NULL, *rv = NULL, *rp = NULL;
	uint8_t *img[2] = { 0 };
	CHECKF(lm && m && ref_model_load(lm, path, &ref, err, sizeof err) == 0, "F16 models: %s", err);
	if (!m || !ref)
		goto out;
	const struct lfm2_vision_hparams *hp = vision_model_hparams(m);
	CHECKF(gguf_find_tensor(g, "seq.0.vision") != NULL, "golden has no vision tensor");
	struct image_plan_params pp;
	image_plan_params_default(&pp);
	struct vision_budget bud = { 0 };
	struct vision_frame fr[2];
	for (int i = 0; i < 2; i++) {
		img[i] = g_malloc((size_t)sizes[i][0] * sizes[i][1] * 3);
		ref_image_generate(img[i], sizes[i][0], sizes[i][1], 7 + i);
		fr[i] = (struct vision_frame){ .pixels = img[i], .width = sizes[i][0], .height = sizes[i][1], .channels = 3 };
		CHECK(vision_budget_add(m, &pp, sizes[i][0], sizes[i][1], 3, &bud) == 0);
	}
	CHECK(vision_ctx_create(m, &pp, &bud, &c) == 0);
	if (!c)
		goto out;
	rows = g_new(float, (size_t)bud.tokens * hp->projection_dim);
	tower = g_new(float, (size_t)bud.patches * hp->width);
	rv = g_new(float, (size_t)1024 * hp->width);
	rp = g_new(float, (size_t)256 * hp->projection_dim);
	struct image_plan plans[2];
	CHECK(vision_ctx_encode(c, fr, 2, rows, bud.tokens, plans, tower, bud.patches) == 0);
	uint32_t p_off = 0, t_off = 0;
	for (int i = 0; i < 2; i++) {
		uint32_t cw = 0, ch = 0;
		CHECK(ref_vision_encode(ref, img[i], sizes[i][0], sizes[i][1], &cw, &ch, rv, rp) == 0);
		CHECK(cw == plans[i].crop_w && ch == plans[i].crop_h);
		uint32_t np = (cw / 16) * (ch / 16), nt = np / 4;
		char what[64];
		snprintf(what, sizeof what, "F16 %ux%u vision", sizes[i][0], sizes[i][1]);
		compare(what, tower + (size_t)p_off * hp->width, rv, (size_t)np * hp->width);
		snprintf(what, sizeof what, "F16 %ux%u projector", sizes[i][0], sizes[i][1]);
		compare(what, rows + (size_t)t_off * hp->projection_dim, rp, (size_t)nt * hp->projection_dim);
		p_off += np;
		t_off += nt;
	}
out:
	for (int i = 0; i < 2; i++)
		g_free(img[i]);
	g_free(rows);
	g_free(tower);
	g_free(rv);
	g_free(rp);
	g_free(lm);
	g_free(lm_args);
	g_free(lm_sha);
	g_free(path);
	ref_model_destroy(ref);
	vision_ctx_destroy(c);
	vision_model_destroy(m);
	gguf_file_destroy(g);
}

int main(int argc, char **argv)
{
	if (argc != 2 || (strcmp(argv[1], "goldens") != 0 && strcmp(argv[1], "tiled") != 0 &&
			  strcmp(argv[1], "f16") != 0)) {
		fprintf(stderr, "usage: test-gpu-vision goldens|tiled|f16\n");
		return 2;
	}
	char *tool = golden_make_model_path();
	if (!tool)
		check_skip("make-model not built (tests/tools/make-model): cannot regenerate the golden models");
	char **files = golden_files();
	if (!files[0])
		check_skip("no goldens in tests/data/goldens");
	struct gpu_test t;
	gpu_test_open(&t, 0);
	if (gpu_mul_mat_uses_coopmat(t.rec)) {
		tol_abs = TOL_ABS_CM;
		tol_nmse = TOL_NMSE_CM;
		printf("cooperative-matrix mul_mat: bounds %g abs, %g NMSE\n", tol_abs, tol_nmse);
	}
	struct gpu_vision *gv = NULL;
	CHECK(gpu_vision_create(t.dev, t.pipes, t.staging, 4096, &gv) == 0);
	if (gv) {
		const struct vision_backend *be = gpu_vision_backend(gv);
		if (strcmp(argv[1], "goldens") == 0) {
			for (char **p = files; *p; p++)
				run_golden(be, tool, *p);
		} else {
			char **f = files;
			while (*f && !strstr(*f, "tiny-f32-512x288"))
				f++;
			CHECKF(*f, "golden tiny-f32-512x288 missing");
			if (*f && strcmp(argv[1], "tiled") == 0)
				run_tiled(be, tool, *f);
			else if (*f)
				run_f16(be, tool, *f);
		}
	}
	gpu_vision_destroy(gv);
	CHECK(gpu_test_close(&t) == 0);
	g_strfreev(files);
	g_free(tool);
	return check_report();
}
