/* tests/test-gpu-caption.c — the one-call captioner (vk/captioner.h) end to
 * end against the transformers goldens, on lavapipe with validation:
 *
 * goldens  for every golden file, its procedural frame(s) — both sequences
 *          of batch2 in one call — through GPU preprocessing, encoder,
 *          projector, prompt and LM: the prompt length must equal the
 *          golden's input_ids, the logits at every prompt position must
 *          match seq.{b}.logits, and the greedy caption (argmax, penalty off,
 *          24 tokens without stopping, as the oracle ran) must equal
 *          golden.seq.{b}.greedy exactly.
 * join     streaming (captioner_submit / _step / _take) on the two frames of
 *          batch2, greedy, 24 tokens: a sequence that joins another's
 *          running decode after a few steps, and one that runs with its own
 *          prompt beside a sequence of the configured one, each produce
 *          exactly the tokens they produce alone (captioner_run; for the
 *          own prompt, a captioner configured with that prompt). With the
 *          model's sampling (T 0.1, top-k 50, min-p 0.15, penalty 1.05) and
 *          fixed seeds, 8 sequences give the same tokens with host sampling
 *          on 1 and on 4 threads and with the device's min-p candidates
 *          (the default; CAPTIOND_SAMPLE_HOST=1 is the host path), both at
 *          the prefill's first token and in decode; with T 1.5 and min-p
 *          0.02 (rows over the device's 64 candidates: the whole-row
 *          fallback) too.
 * png      captionctl caption --greedy on a PNG of the procedural 512×288
 *          frame (written here with GStreamer's pngenc) prints the same text
 *          as the in-memory path.
 *
 * Tolerances on logits: max |ours − golden| ≤ 1e-3·max(max|golden|, 1) and
 * NMSE ≤ 1e-7, the bounds of test-gpu-lm (F16 KV caches); the vision side
 * adds ~4e-6 (test-gpu-vision). The greedy tokens must be equal.
 */
#include "tests/check.h"
#include "tests/golden-models.h"
#include "tests/gpu-test-util.h"
#include "tests/reference/ref-image.h"

#include <errno.h>
#include <inttypes.h>
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "vk/captioner.h"
#include "vk/ops_matmul.h"

#define TOL 1e-3
#define TOL_NMSE 1e-7
/* With the cooperative-matrix kernel (f16 operands) in the encoder and the
 * prefill: looser logits, the same greedy tokens. */
#define TOL_CM 2e-2
#define TOL_NMSE_CM 1e-4

static double tol = TOL, tol_nmse = TOL_NMSE;
#define MAX_SEQ 4

static bool golden_frame(const struct gguf_file *g, uint32_t b, uint8_t **pix, struct vision_frame *fr)
{
	char key[64];
	uint32_t w = 0, h = 0, seed = 0;
	snprintf(key, sizeof key, "golden.seq.%u.image_width", b);
	bool ok = gguf_get_u32(g, key, &w) == 0;
	snprintf(key, sizeof key, "golden.seq.%u.image_height", b);
	ok = ok && gguf_get_u32(g, key, &h) == 0;
	snprintf(key, sizeof key, "golden.seq.%u.image_seed", b);
	ok = ok && gguf_get_u32(g, key, &seed) == 0 && w && h && w <= 4096 && h <= 4096;
	CHECKF(ok, "golden seq %u: image keys", b);
	if (!ok)
		return false;
	*pix = g_malloc((size_t)w * h * 3);
	ref_image_generate(*pix, w, h, seed);
	*fr = (struct vision_frame){ .pixels = *pix, .width = w, .height = h, .channels = 3 };
	return true;
}

static const char *own_prompt;  /* open_captioner: instead of the golden's prompt */
static uint32_t max_prompt_tokens;
static uint32_t sample_threads;
static bool model_sampling;     /* the model's sampling instead of greedy */
static bool wide_sampling;      /* with model_sampling: T 1.5, min-p 0.02 (many candidates) */

static struct captioner *open_captioner(struct gpu_test *t, const char *tool, const struct gguf_file *g,
					uint32_t n_seq, uint32_t max_w, uint32_t max_h, bool logits,
					char **lm_out, char **mm_out)
{
	char *lm_args = golden_kv_string(g, "golden.lm_args"), *lm_sha = golden_kv_string(g, "golden.lm_sha256");
	char *mm_args = golden_kv_string(g, "golden.mmproj_args"), *mm_sha = golden_kv_string(g, "golden.mmproj_sha256");
	char *prompt = golden_kv_string(g, "golden.prompt");
	char *lm = lm_args ? golden_get_model(tool, lm_args, true, lm_sha) : NULL;
	char *mm = mm_args ? golden_get_model(tool, mm_args, false, mm_sha) : NULL;
	struct captioner *c = NULL;
	CHECKF(lm && mm && prompt, "golden models or prompt missing");
	if (lm && mm && prompt) {
		struct captioner_config cfg;
		captioner_config_default(&cfg);
		cfg.prompt = own_prompt ? own_prompt : prompt;
		cfg.max_prompt_tokens = max_prompt_tokens;
		cfg.sample_threads = sample_threads;
		cfg.sampling = (struct sampler_params){ .temperature = 0.0f, .repetition_penalty = 1.0f };
		cfg.max_tokens = 24;
		cfg.stop_on_eos = false;
		cfg.max_batch = n_seq;
		if (model_sampling) {
			struct captioner_config d;
			captioner_config_default(&d);
			cfg.sampling = d.sampling;
			if (wide_sampling) {
				cfg.sampling.temperature = 1.5f;
				cfg.sampling.min_p = 0.02f;
			}
		}
		cfg.max_width = max_w;
		cfg.max_height = max_h;
		cfg.prompt_logits = logits;
		char err[256] = "";
		int ret = captioner_create(t->dev, t->pipes, t->staging, lm, mm, &cfg, &c, err, sizeof err);
		CHECKF(ret == 0, "captioner_create: %d %s", ret, err);
	}
	if (lm_out)
		*lm_out = g_strdup(lm);
	if (mm_out)
		*mm_out = g_strdup(mm);
	g_free(lm_args);
	g_free(lm_sha);
	g_free(mm_args);
	g_free(mm_sha);
	g_free(prompt);
	g_free(lm);
	g_free(mm);
	return c;
}

static void run_golden(struct gpu_test *t, const char *tool, const char *file)
{
	struct gguf_file *g = NULL;
	struct gguf_error ge = { 0 };
	CHECKF(gguf_file_open(file, &g, &ge) == 0, "%s: %s", file, ge.message);
	if (!g)
		return;
	char *base = g_path_get_basename(file);
	uint32_t n_seq = 0, max_w = 0, max_h = 0;
	uint8_t *pix[MAX_SEQ] = { 0 };
	struct vision_frame fr[MAX_SEQ];
	struct caption cap[MAX_SEQ] = { 0 };
	struct captioner *c = NULL;
	CHECK(gguf_get_u32(g, "golden.n_seq", &n_seq) == 0 && n_seq >= 1 && n_seq <= MAX_SEQ);
	if (n_seq < 1 || n_seq > MAX_SEQ)
		goto out;
	for (uint32_t b = 0; b < n_seq; b++) {
		if (!golden_frame(g, b, &pix[b], &fr[b]))
			goto out;
		max_w = fr[b].width > max_w ? fr[b].width : max_w;
		max_h = fr[b].height > max_h ? fr[b].height : max_h;
	}
	c = open_captioner(t, tool, g, n_seq, max_w, max_h, true, NULL, NULL);
	if (!c)
		goto out;
	const uint32_t V = captioner_n_vocab(c);
	double t0 = gpu_test_now();
	int ret = captioner_run(c, fr, n_seq, cap);
	CHECKF(ret == 0, "%s: captioner_run %d", base, ret);
	printf("%s: %u frame(s) captioned in %.1f ms\n", base, n_seq, (gpu_test_now() - t0) * 1e3);
	if (ret < 0)
		goto out;
	for (uint32_t b = 0; b < n_seq; b++) {
		char key[64];
		uint32_t n_ids = 0, n_greedy = 0;
		snprintf(key, sizeof key, "golden.seq.%u.input_ids", b);
		int32_t *ids = golden_kv_ints(g, key, &n_ids);
		snprintf(key, sizeof key, "golden.seq.%u.greedy", b);
		int32_t *greedy = golden_kv_ints(g, key, &n_greedy);
		snprintf(key, sizeof key, "seq.%u.logits", b);
		const struct gguf_tensor *tl = gguf_find_tensor(g, key);
		bool ok = ids && greedy && tl && tl->type == 0 && tl->ne[0] == V && tl->ne[1] == n_ids;
		CHECKF(ok, "%s seq %u: golden keys or logits missing", base, b);
		CHECKF(ok && cap[b].n_prompt == n_ids, "%s seq %u: prompt %u ids, golden %u", base, b,
		       cap[b].n_prompt, n_ids);
		if (ok && cap[b].n_prompt == n_ids) {
			const float *want = tl->data;
			double num = 0, den = 0, maxd = 0, maxg = 1;
			for (size_t i = 0; i < (size_t)n_ids * V; i++) {
				double d = (double)cap[b].prompt_logits[i] - want[i];
				num += d * d;
				den += (double)want[i] * want[i];
				maxd = fabs(d) > maxd ? fabs(d) : maxd;
				maxg = fabs(want[i]) > maxg ? fabs(want[i]) : maxg;
			}
			printf("  seq %u: %u positions, logits max|d| %.3g (max|golden| %.3g) nmse %.3g\n", b,
			       n_ids, maxd, maxg, num / den);
			CHECKF(maxd <= tol * maxg && num / den <= tol_nmse, "%s seq %u: logits off", base, b);
			bool same = cap[b].n_tokens == n_greedy &&
				    memcmp(cap[b].tokens, greedy, n_greedy * sizeof *greedy) == 0;
			CHECKF(same, "%s seq %u: greedy caption differs from the golden", base, b);
			printf("  seq %u: greedy %s (\"%s\")\n", b, same ? "equal" : "DIFFERENT", cap[b].text);
		}
		free(ids);
		free(greedy);
	}
out:
	for (uint32_t b = 0; b < MAX_SEQ; b++) {
		caption_clear(&cap[b]);
		g_free(pix[b]);
	}
	captioner_destroy(c);
	g_free(base);
	gguf_file_destroy(g);
}

static bool same_tokens(const struct caption *a, const struct caption *b)
{
	return a->n_tokens == b->n_tokens && a->n_tokens > 0 &&
	       memcmp(a->tokens, b->tokens, a->n_tokens * sizeof *a->tokens) == 0;
}

/* Submit frame after `delay` steps of the one before; step until all are
 * taken. out[tag] gets each caption. */
static int stream_two(struct captioner *c, const struct vision_frame *fr, const char *const *prompts,
		      uint32_t delay, struct caption *out)
{
	int ret = 0;
	for (uint32_t i = 0; i < 2 && ret == 0; i++) {
		const struct captioner_request rq = { .frame = &fr[i], .prompt = prompts[i], .tag = i };
		ret = captioner_submit(c, &rq, 1);
		for (uint32_t s = 0; i == 0 && s < delay && ret == 0; s++)
			ret = captioner_step(c);
		CHECKF(i == 0 || ret < 0 || captioner_running(c) == 2, "the second sequence joins a running one");
	}
	while (ret == 0 && captioner_running(c) > 0)
		ret = captioner_step(c);
	struct caption cap;
	uint64_t tag;
	int st;
	uint32_t taken = 0;
	while ((st = captioner_take(c, &cap, &tag)) != -EAGAIN) {
		CHECKF(st == 0 && tag < 2, "take: %d tag %" G_GUINT64_FORMAT, st, tag);
		if (tag < 2) {
			caption_clear(&out[tag]);
			out[tag] = cap;
			taken++;
		} else {
			caption_clear(&cap);
		}
	}
	CHECKF(ret == 0 && taken == 2, "streaming: ret %d, %u captions taken", ret, taken);
	return ret;
}

static void run_join(struct gpu_test *t, const char *tool, const char *file)
{
	static const char other[] = "What colours do you see?";
	struct gguf_file *g = NULL;
	struct gguf_error ge = { 0 };
	CHECK(gguf_file_open(file, &g, &ge) == 0);
	if (!g)
		return;
	uint8_t *pix[2] = { 0 };
	struct vision_frame fr[2];
	struct caption alone[2] = { 0 }, own = { 0 }, joined[2] = { 0 }, mixed[2] = { 0 };
	struct captioner *c = NULL, *cp = NULL;
	if (!golden_frame(g, 0, &pix[0], &fr[0]) || !golden_frame(g, 1, &pix[1], &fr[1]))
		goto out;
	const uint32_t mw = MAX(fr[0].width, fr[1].width), mh = MAX(fr[0].height, fr[1].height);
	max_prompt_tokens = 32;
	c = open_captioner(t, tool, g, 2, mw, mh, false, NULL, NULL);
	own_prompt = other;
	cp = open_captioner(t, tool, g, 1, mw, mh, false, NULL, NULL);
	own_prompt = NULL;
	max_prompt_tokens = 0;
	if (!c || !cp)
		goto out;
	/* alone: one frame per call */
	CHECK(captioner_run(c, &fr[0], 1, &alone[0]) == 0);
	CHECK(captioner_run(c, &fr[1], 1, &alone[1]) == 0);
	CHECK(captioner_run(cp, &fr[1], 1, &own) == 0);
	CHECK(captioner_prompt_check(c, other) == 0);
	/* joined: the second frame starts after 5 decode steps of the first */
	const char *const same[2] = { NULL, NULL }, *const diff[2] = { NULL, other };
	if (stream_two(c, fr, same, 5, joined) == 0)
		for (uint32_t i = 0; i < 2; i++) {
			bool eq = same_tokens(&joined[i], &alone[i]);
			printf("seq %u joined after 5 steps: \"%s\", alone \"%s\"\n", i, joined[i].text, alone[i].text);
			CHECKF(eq, "seq %u: the joined caption differs from the one alone", i);
		}
	/* own prompt: the second frame asks another question, joining after 3 steps */
	if (stream_two(c, fr, diff, 3, mixed) == 0) {
		printf("own prompt \"%s\": \"%s\", that prompt alone \"%s\"\n", other, mixed[1].text, own.text);
		CHECK(same_tokens(&mixed[0], &alone[0]));
		CHECKF(same_tokens(&mixed[1], &own), "the own-prompt caption differs from that prompt's captioner");
		CHECKF(mixed[1].n_prompt != alone[1].n_prompt, "the own prompt was used (%u positions vs %u)",
		       mixed[1].n_prompt, alone[1].n_prompt);
	}
	/* host sampling (the model's T / min_p / penalty) of 8 rows on 4 threads
	 * gives the tokens it gives on one, and the device's candidates the
	 * tokens of the host path */
	{
		struct captioner *cs[3] = { NULL, NULL, NULL };
		struct vision_frame f8[8];
		struct caption c8[3][8];
		memset(c8, 0, sizeof c8);
		for (uint32_t i = 0; i < 8; i++)
			f8[i] = fr[i % 2];
		for (uint32_t v = 0; v < 3; v++) {
			sample_threads = v == 1 ? 4 : 1;
			model_sampling = true;
			if (v < 2)
				g_setenv("CAPTIOND_SAMPLE_HOST", "1", TRUE);
			cs[v] = open_captioner(t, tool, g, 8, mw, mh, false, NULL, NULL);
			g_unsetenv("CAPTIOND_SAMPLE_HOST");
			model_sampling = false;
			sample_threads = 0;
			CHECK(cs[v] && captioner_run(cs[v], f8, 8, c8[v]) == 0);
		}
		uint64_t cand[3] = { 0 }, full[3] = { 0 };
		for (uint32_t v = 0; v < 3; v++)
			if (cs[v])
				captioner_sample_counts(cs[v], &cand[v], &full[v]);
		printf("sampled: host path %" PRIu64 " rows whole; candidates %" PRIu64 " rows, %" PRIu64
		       " whole\n", full[0], cand[2], full[2]);
		CHECKF(cand[0] == 0 && full[0] == 8 * 24, "host path: %" PRIu64 " candidate rows, %" PRIu64
		       " whole", cand[0], full[0]);
		CHECKF(cand[2] + full[2] == 8 * 24 && cand[2] > 0,
		       "candidate path: %" PRIu64 " candidate rows, %" PRIu64 " whole", cand[2], full[2]);
		for (uint32_t i = 0; i < 8; i++) {
			CHECKF(same_tokens(&c8[0][i], &c8[1][i]), "sampled seq %u: 4 sampling threads differ from 1", i);
			CHECKF(same_tokens(&c8[0][i], &c8[2][i]), "sampled seq %u: candidates differ from the host path", i);
			if (i < 2)
				printf("sampled seq %u: \"%s\"\n", i, c8[2][i].text);
			for (uint32_t v = 0; v < 3; v++)
				caption_clear(&c8[v][i]);
		}
		for (uint32_t v = 0; v < 3; v++)
			captioner_destroy(cs[v]);
	}
	/* T 1.5, min-p 0.02: rows with more candidates than the device returns
	 * take the whole-row path; the tokens still match the host path */
	{
		struct captioner *cs[2] = { NULL, NULL };
		struct caption w[2][2];
		memset(w, 0, sizeof w);
		uint64_t cand[2] = { 0 }, full[2] = { 0 };
		for (uint32_t v = 0; v < 2; v++) {
			model_sampling = wide_sampling = true;
			if (v == 0)
				g_setenv("CAPTIOND_SAMPLE_HOST", "1", TRUE);
			cs[v] = open_captioner(t, tool, g, 2, mw, mh, false, NULL, NULL);
			g_unsetenv("CAPTIOND_SAMPLE_HOST");
			model_sampling = wide_sampling = false;
			CHECK(cs[v] && captioner_run(cs[v], fr, 2, w[v]) == 0);
			if (cs[v])
				captioner_sample_counts(cs[v], &cand[v], &full[v]);
		}
		printf("wide sampling: candidates %" PRIu64 " rows, %" PRIu64 " whole\n", cand[1], full[1]);
		CHECKF(full[1] > 0 && cand[1] + full[1] == 2 * 24,
		       "wide sampling: %" PRIu64 " candidate rows, %" PRIu64 " whole", cand[1], full[1]);
		for (uint32_t i = 0; i < 2; i++) {
			CHECKF(same_tokens(&w[0][i], &w[1][i]), "wide sampling seq %u: candidates differ from the host path", i);
			caption_clear(&w[0][i]);
			caption_clear(&w[1][i]);
		}
		captioner_destroy(cs[0]);
		captioner_destroy(cs[1]);
	}
	/* captioner_run refuses while streamed sequences run */
	const struct captioner_request rq = { .frame = &fr[0] };
	if (captioner_submit(c, &rq, 1) == 0) {
		struct caption tmp = { 0 };
		CHECK(captioner_run(c, &fr[1], 1, &tmp) == -EBUSY);
		while (captioner_running(c))
			CHECK(captioner_step(c) == 0);
		uint64_t tag = 99;
		CHECK(captioner_take(c, &tmp, &tag) == 0 && tag == 0 && same_tokens(&tmp, &alone[0]));
		caption_clear(&tmp);
		CHECK(captioner_take(c, &tmp, &tag) == -EAGAIN);
	}
out:
	for (uint32_t i = 0; i < 2; i++) {
		caption_clear(&alone[i]);
		caption_clear(&joined[i]);
		caption_clear(&mixed[i]);
		g_free(pix[i]);
	}
	caption_clear(&own);
	captioner_destroy(c);
	captioner_destroy(cp);
	gguf_file_destroy(g);
}

/* PNG of the frame through gst-launch (videotestsrc is not our image:
 * the pixels come in through a raw file and rawvideoparse). */
static bool write_png(const char *dir, const struct vision_frame *fr, char **png_out)
{
	char *raw = g_build_filename(dir, "frame.rgb", NULL);
	char *png = g_build_filename(dir, "frame.png", NULL);
	bool ok = g_file_set_contents(raw, (const char *)fr->pixels, (gssize)fr->width * fr->height * 3, NULL);
	if (ok) {
		char *cmd = g_strdup_printf("gst-launch-1.0 -q filesrc location=%s ! rawvideoparse "
					    "format=rgb width=%u height=%u framerate=1/1 ! videoconvert ! "
					    "pngenc ! filesink location=%s",
					    raw, fr->width, fr->height, png);
		int status = -1;
		ok = g_spawn_command_line_sync(cmd, NULL, NULL, &status, NULL) && status == 0;
		g_free(cmd);
	}
	g_free(raw);
	*png_out = png;
	return ok;
}

static void run_png(struct gpu_test *t, const char *tool, const char *file)
{
	struct gguf_file *g = NULL;
	struct gguf_error ge = { 0 };
	CHECK(gguf_file_open(file, &g, &ge) == 0);
	if (!g)
		return;
	uint8_t *pix = NULL;
	struct vision_frame fr;
	struct caption cap = { 0 };
	char *lm = NULL, *mm = NULL, *png = NULL, *dir = NULL, *out = NULL, *errout = NULL;
	struct captioner *c = NULL;
	if (!golden_frame(g, 0, &pix, &fr))
		goto done;
	c = open_captioner(t, tool, g, 1, fr.width, fr.height, false, &lm, &mm);
	if (!c)
		goto done;
	CHECK(captioner_run(c, &fr, 1, &cap) == 0);
	dir = g_dir_make_tmp("captiond-caption-XXXXXX", NULL);
	CHECK(dir != NULL);
	if (!dir || !cap.text)
		goto done;
	bool ok = write_png(dir, &fr, &png);
	CHECKF(ok, "could not write %s with gst-launch-1.0 pngenc", png);
	if (!ok)
		goto done;
	const char *build = g_getenv("CAPTIOND_BUILD_ROOT");
	char *ctl = g_build_filename(build ? build : ".", "daemon", "captionctl", NULL);
	char *prompt = golden_kv_string(g, "golden.prompt");
	char *argv[] = { ctl, "caption", "--model", lm, "--mmproj", mm, "--prompt", prompt,
			 "--greedy", "--max-tokens", "24", "--no-eos", png, NULL };
	int status = -1;
	GError *e = NULL;
	ok = g_spawn_sync(NULL, argv, NULL, 0, NULL, NULL, &out, &errout, &status, &e);
	CHECKF(ok && g_spawn_check_wait_status(status, NULL), "captionctl caption failed: %s %s",
	       e ? e->message : "", errout ? errout : "");
	g_clear_error(&e);
	if (ok && out) {
		g_strchomp(out);
		printf("in memory: \"%s\"\ncaptionctl: \"%s\"\n", cap.text, out);
		CHECKF(strcmp(out, cap.text) == 0, "PNG caption differs from the in-memory one");
	}
	g_free(ctl);
	g_free(prompt);
	if (png)
		remove(png);
	char *raw = g_build_filename(dir, "frame.rgb", NULL);
	remove(raw);
	g_free(raw);
	remove(dir);
done:
	caption_clear(&cap);
	captioner_destroy(c);
	g_free(pix);
	g_free(lm);
	g_free(mm);
	g_free(png);
	g_free(dir);
	g_free(out);
	g_free(errout);
	gguf_file_destroy(g);
}

int main(int argc, char **argv)
{
	if (argc != 2 || (strcmp(argv[1], "goldens") != 0 && strcmp(argv[1], "png") != 0 &&
			  strcmp(argv[1], "join") != 0)) {
		fprintf(stderr, "usage: test-gpu-caption goldens|png|join\n");
		return 2;
	}
	char *tool = golden_make_model_path();
	if (!tool)
		check_skip("make-model not built (tests/tools/make-model): cannot regenerate the golden models");
	char **files = golden_files();
	if (!files[0])
		check_skip("no goldens in tests/data/goldens");
	if (strcmp(argv[1], "png") == 0) {
		char *gst = g_find_program_in_path("gst-launch-1.0");
		if (!gst)
			check_skip("gst-launch-1.0 not installed: cannot write the PNG");
		g_free(gst);
	}
	struct gpu_test t;
	gpu_test_open(&t, 0);
	if (gpu_mul_mat_uses_coopmat(t.rec)) {
		tol = TOL_CM;
		tol_nmse = TOL_NMSE_CM;
		printf("cooperative-matrix mul_mat: logits bounds %g relative, %g NMSE\n", tol, tol_nmse);
	}
	if (strcmp(argv[1], "goldens") == 0) {
		for (char **p = files; *p; p++)
			run_golden(&t, tool, *p);
	} else if (strcmp(argv[1], "join") == 0) {
		char **f = files;
		while (*f && !strstr(*f, "tiny-f32-batch2"))
			f++;
		CHECKF(*f, "golden tiny-f32-batch2 missing");
		if (*f)
			run_join(&t, tool, *f);
	} else {
		char **f = files;
		while (*f && !strstr(*f, "tiny-f32-512x288"))
			f++;
		CHECKF(*f, "golden tiny-f32-512x288 missing");
		if (*f)
			run_png(&t, tool, *f);
	}
	CHECK(gpu_test_close(&t) == 0);
	g_strfreev(files);
	g_free(tool);
	return check_report();
}
