/* daemon/ctl_bench_vision.c — captionctl bench vision / caption: the vision
 * encoder's time per frame at several batch sizes and frame sizes, and the
 * frame-to-caption latency, as one JSON object each. Frames are a fixed
 * procedural pattern (the content changes no work: captions are forced to
 * their full length). Warm-up runs are not counted (lavapipe JITs, drivers
 * page in). Speed is measured here, never asserted. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "daemon/captionctl.h"
#include "model/gguf.h"
#include "vk/captioner.h"
#include "vk/lfm2_vision.h"
#include "vk/ops_matmul.h"
#include "vk/recorder.h"

static double now_ms(void)
{
	return (double)g_get_monotonic_time() / 1e3;
}

static uint8_t *pattern(uint32_t w, uint32_t h, uint32_t seed)
{
	uint8_t *p = g_malloc((size_t)w * h * 3);
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++)
			for (uint32_t c = 0; c < 3; c++)
				p[((size_t)y * w + x) * 3 + c] =
					(uint8_t)((x * (c + 1) * 7 + y * (3 - c) * 5 + ((x / 8) ^ (y / 8)) * 23 + seed * 41) & 255);
	return p;
}

/* "WxH,WxH" → sizes; returns the count (≤ max) or -1. */
static int parse_sizes(const char *s, uint32_t (*wh)[2], int max)
{
	int n = 0;
	char **parts = g_strsplit(s, ",", -1);
	for (char **p = parts; *p; p++) {
		unsigned w, h;
		if (n >= max || sscanf(*p, "%ux%u", &w, &h) != 2 || !w || !h || w > 8192 || h > 8192) {
			n = -1;
			break;
		}
		wh[n][0] = w;
		wh[n][1] = h;
		n++;
	}
	g_strfreev(parts);
	return n;
}

static int parse_list(const char *s, uint32_t *v, int max)
{
	int n = 0;
	char **parts = g_strsplit(s, ",", -1);
	for (char **p = parts; *p; p++) {
		unsigned long x = strtoul(*p, NULL, 10);
		if (n >= max || x == 0 || x > 256) {
			n = -1;
			break;
		}
		v[n++] = (uint32_t)x;
	}
	g_strfreev(parts);
	return n;
}

static bool coopmat_used(struct ctl_gpu *g)
{
	struct gpu_recorder *rec = NULL;
	bool used = gpu_recorder_create(g->dev, g->pipes, 1, &rec) == 0 && gpu_mul_mat_uses_coopmat(rec);
	gpu_recorder_destroy(rec);
	return used;
}

static void json_str(GString *s, const char *t)
{
	g_string_append_c(s, '"');
	for (; *t; t++) {
		if (*t == '"' || *t == '\\')
			g_string_append_printf(s, "\\%c", *t);
		else if ((unsigned char)*t < 0x20)
			g_string_append_printf(s, "\\u%04x", (unsigned char)*t);
		else
			g_string_append_c(s, *t);
	}
	g_string_append_c(s, '"');
}

/* One (size, batch) case of the vision bench; appends its JSON object. */
static int vision_case(struct vision_model *m, uint32_t w, uint32_t h, uint32_t batch, uint32_t iters,
		       GString *js)
{
	const struct lfm2_vision_hparams *hp = vision_model_hparams(m);
	struct image_plan_params pp;
	image_plan_params_default(&pp);
	struct vision_budget bud = { 0 };
	int ret = 0;
	for (uint32_t i = 0; i < batch && ret == 0; i++)
		ret = vision_budget_add(m, &pp, w, h, 3, &bud);
	if (ret < 0)
		return ret;
	struct vision_ctx *c = NULL;
	if ((ret = vision_ctx_create(m, &pp, &bud, &c)) < 0)
		return ret;
	uint8_t *pix = pattern(w, h, 1);
	struct vision_frame *fr = g_new(struct vision_frame, batch);
	for (uint32_t i = 0; i < batch; i++)
		fr[i] = (struct vision_frame){ .pixels = pix, .width = w, .height = h, .channels = 3 };
	float *rows = g_new(float, (size_t)bud.tokens * hp->projection_dim);
	double best = 1e300, sum = 0;
	for (uint32_t it = 0; it <= iters && ret == 0; it++) {
		double t0 = now_ms();
		ret = vision_ctx_encode(c, fr, batch, rows, bud.tokens, NULL, NULL, 0);
		double t = now_ms() - t0;
		if (it == 0)
			continue; /* warm-up */
		best = t < best ? t : best;
		sum += t;
	}
	if (ret == 0)
		g_string_append_printf(js, "%s{\"width\":%u,\"height\":%u,\"batch\":%u,\"crops\":%u,\"patches\":%u,"
				       "\"tokens\":%u,\"iterations\":%u,\"encode_ms_mean\":%.3f,\"encode_ms_min\":%.3f,"
				       "\"ms_per_frame\":%.3f}",
				       js->str[js->len - 1] == '[' ? "" : ",", w, h, batch, bud.crops, bud.patches,
				       bud.tokens, iters, sum / iters, best, sum / iters / batch);
	g_free(rows);
	g_free(fr);
	g_free(pix);
	vision_ctx_destroy(c);
	return ret;
}

static void usage_vision(FILE *f)
{
	fprintf(f, "usage: captionctl bench vision --mmproj MM.gguf [--sizes 512x512,1024x768]\n"
		   "                              [--batches 1,4,16] [--iters N]\n");
}

int ctl_bench_vision_main(int argc, char **argv)
{
	const char *mm = NULL, *sizes = "512x512,1024x768", *batches = "1,4,16";
	unsigned long iters = 3;
	for (int i = 1; i < argc; i++) {
		bool has = i + 1 < argc;
		if (!strcmp(argv[i], "--mmproj") && has)
			mm = argv[++i];
		else if (!strcmp(argv[i], "--sizes") && has)
			sizes = argv[++i];
		else if (!strcmp(argv[i], "--batches") && has)
			batches = argv[++i];
		else if (!strcmp(argv[i], "--iters") && has)
			iters = strtoul(argv[++i], NULL, 10);
		else {
			usage_vision(stderr);
			return 2;
		}
	}
	uint32_t wh[8][2], bs[8];
	int n_sizes = parse_sizes(sizes, wh, 8), n_b = parse_list(batches, bs, 8);
	if (!mm || n_sizes <= 0 || n_b <= 0 || iters == 0 || iters > 1000) {
		usage_vision(stderr);
		return 2;
	}
	struct ctl_gpu g;
	struct gguf_file *f = NULL;
	struct gguf_error ge = { 0 };
	struct gpu_vision *gv = NULL;
	struct vision_model *m = NULL;
	GString *js = g_string_new(NULL);
	char err[256] = "";
	int status = 1;
	if (gguf_file_open(mm, &f, &ge) < 0) {
		fprintf(stderr, "captionctl: %s: %s\n", mm, ge.message);
		goto out0;
	}
	if (ctl_gpu_open(&g) < 0)
		goto out0;
	uint32_t max_crops = 0, max_b = 0;
	struct image_plan_params pp;
	image_plan_params_default(&pp);
	for (int i = 0; i < n_sizes; i++) {
		struct image_plan p;
		if (image_plan_compute(&pp, wh[i][0], wh[i][1], &p) == 0 && p.n_crops > max_crops)
			max_crops = p.n_crops;
	}
	for (int i = 0; i < n_b; i++)
		max_b = bs[i] > max_b ? bs[i] : max_b;
	struct lfm2_vision_hparams vh;
	if (lfm2_vision_hparams_read(f, &vh, err, sizeof err) < 0 ||
	    gpu_vision_create(g.dev, g.pipes, g.staging, gpu_vision_dispatches(vh.n_layer, max_crops * max_b), &gv) < 0 ||
	    vision_model_create(gpu_vision_backend(gv), f, &m, err, sizeof err) < 0) {
		fprintf(stderr, "captionctl: %s: %s\n", mm, err);
		goto out;
	}
	g_string_append(js, "{\"class\":\"bench\",\"bench\":\"vision\",\"mmproj\":");
	json_str(js, mm);
	g_string_append(js, ",\"device\":");
	json_str(js, gpu_device_caps(g.dev)->name);
	g_string_append_printf(js, ",\"coopmat\":%s,\"vision_width\":%u,\"vision_layers\":%u,\"cases\":[",
			       coopmat_used(&g) ? "true" : "false", vh.width, vh.n_layer);
	/* A case that fails (memory, limits) is reported in place; the others run. */
	bool all_ok = true;
	for (int i = 0; i < n_sizes; i++)
		for (int b = 0; b < n_b; b++) {
			int ret = vision_case(m, wh[i][0], wh[i][1], bs[b], (uint32_t)iters, js);
			if (ret < 0) {
				fprintf(stderr, "captionctl: vision %ux%u batch %u failed (%d)\n", wh[i][0],
					wh[i][1], bs[b], ret);
				g_string_append_printf(js, "%s{\"width\":%u,\"height\":%u,\"batch\":%u,\"error\":%d}",
						       js->str[js->len - 1] == '[' ? "" : ",", wh[i][0], wh[i][1], bs[b], ret);
				all_ok = false;
			}
		}
	g_string_append(js, "]}");
	printf("%s\n", js->str);
	status = all_ok ? 0 : 1;
out:
	vision_model_destroy(m);
	gpu_vision_destroy(gv);
	ctl_gpu_close(&g);
out0:
	gguf_file_destroy(f);
	g_string_free(js, TRUE);
	return status;
}

static void usage_caption(FILE *f)
{
	fprintf(f, "usage: captionctl bench caption --model LM.gguf --mmproj MM.gguf\n"
		   "                               [--sizes 512x512,1024x768] [--tokens 32] [--iters N]\n");
}

int ctl_bench_caption_main(int argc, char **argv)
{
	const char *lm = NULL, *mm = NULL, *sizes = "512x512,1024x768";
	unsigned long iters = 3, tokens = 32;
	for (int i = 1; i < argc; i++) {
		bool has = i + 1 < argc;
		if (!strcmp(argv[i], "--model") && has)
			lm = argv[++i];
		else if (!strcmp(argv[i], "--mmproj") && has)
			mm = argv[++i];
		else if (!strcmp(argv[i], "--sizes") && has)
			sizes = argv[++i];
		else if (!strcmp(argv[i], "--tokens") && has)
			tokens = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--iters") && has)
			iters = strtoul(argv[++i], NULL, 10);
		else {
			usage_caption(stderr);
			return 2;
		}
	}
	uint32_t wh[8][2];
	int n_sizes = parse_sizes(sizes, wh, 8);
	if (!lm || !mm || n_sizes <= 0 || iters == 0 || iters > 1000 || tokens == 0 || tokens > 1024) {
		usage_caption(stderr);
		return 2;
	}
	struct ctl_gpu g;
	if (ctl_gpu_open(&g) < 0)
		return 1;
	GString *js = g_string_new("{\"class\":\"bench\",\"bench\":\"caption\",\"model\":");
	json_str(js, lm);
	g_string_append(js, ",\"mmproj\":");
	json_str(js, mm);
	g_string_append(js, ",\"device\":");
	json_str(js, gpu_device_caps(g.dev)->name);
	g_string_append_printf(js, ",\"coopmat\":%s,\"caption_tokens\":%lu,\"cases\":[",
			       coopmat_used(&g) ? "true" : "false", tokens);
	int status = 1;
	for (int i = 0; i < n_sizes; i++) {
		struct captioner_config cfg;
		captioner_config_default(&cfg);
		cfg.max_tokens = (uint32_t)tokens;
		cfg.stop_on_eos = false; /* always the full length */
		cfg.max_width = wh[i][0];
		cfg.max_height = wh[i][1];
		struct captioner *c = NULL;
		char err[256] = "";
		if (captioner_create(g.dev, g.pipes, g.staging, lm, mm, &cfg, &c, err, sizeof err) < 0) {
			fprintf(stderr, "captionctl: %s\n", err);
			goto out;
		}
		uint8_t *pix = pattern(wh[i][0], wh[i][1], 1);
		struct vision_frame fr = { .pixels = pix, .width = wh[i][0], .height = wh[i][1], .channels = 3 };
		double sum = 0, best = 1e300, enc = 0, pre = 0, dec = 0;
		uint32_t n_img = 0, n_prompt = 0;
		int ret = 0;
		for (uint32_t it = 0; it <= iters && ret == 0; it++) {
			struct caption cap = { 0 };
			double t0 = now_ms();
			ret = captioner_run(c, &fr, 1, &cap);
			double t = now_ms() - t0;
			if (ret == 0 && it > 0) {
				sum += t;
				best = t < best ? t : best;
				enc += cap.encode_ms;
				pre += cap.prefill_ms;
				dec += cap.decode_ms;
				n_img = cap.n_image_tokens;
				n_prompt = cap.n_prompt;
			}
			caption_clear(&cap);
		}
		g_free(pix);
		captioner_destroy(c);
		if (ret < 0) {
			fprintf(stderr, "captionctl: caption %ux%u failed (%d)\n", wh[i][0], wh[i][1], ret);
			goto out;
		}
		g_string_append_printf(js, "%s{\"width\":%u,\"height\":%u,\"image_tokens\":%u,\"prompt_tokens\":%u,"
				       "\"iterations\":%lu,\"frame_to_caption_ms_mean\":%.3f,\"frame_to_caption_ms_min\":%.3f,"
				       "\"encode_ms\":%.3f,\"prefill_ms\":%.3f,\"decode_ms\":%.3f,\"decode_ms_per_token\":%.3f}",
				       i ? "," : "", wh[i][0], wh[i][1], n_img, n_prompt, iters, sum / iters, best,
				       enc / iters, pre / iters, dec / iters, dec / iters / (double)(tokens > 1 ? tokens - 1 : 1));
	}
	g_string_append(js, "]}");
	printf("%s\n", js->str);
	status = 0;
out:
	g_string_free(js, TRUE);
	ctl_gpu_close(&g);
	return status;
}
