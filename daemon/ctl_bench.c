/* daemon/ctl_bench.c — captionctl bench: benchmarks that print one JSON
 * object on stdout. One sub-benchmark per static function (tokenizer, lm;
 * vision, caption later). Speed is measured here, never asserted. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "daemon/captionctl.h"
#include "model/lm_graph.h"
#include "model/quant.h"
#include "model/tokenizer.h"
#include "vk/device.h"
#include "vk/lfm2_lm.h"

/* Multilingual text for the tokenizer: LFM2's languages, code, numbers,
 * emoji. Repeated with a counter to about 1 MiB so the measurement is not one
 * short call; the piece cache sees the repetition, as it would in real use. */
static const char bench_text[] =
	"The camera watches the street and the daemon writes one sentence for every frame it keeps up with: "
	"a person walking a dog, two cars waiting at a red light, a cyclist in the rain. It's 07:45, 12.5 km/h.\n"
	"La caméra regarde la rue et décrit chaque image : une femme traverse, un enfant joue près de l'école.\n"
	"Die Kamera beobachtet die Straße: Äpfel, Öl und Größe — alles wird beschrieben, Bild für Bild.\n"
	"La cámara mira la calle y describe cada imagen: un niño con su perro, ¿qué hora es? ¡Qué bonito!\n"
	"A câmera observa a rua e descreve cada imagem: uma criança com o seu cão, o coração de São Paulo.\n"
	"الكاميرا تراقب الشارع وتكتب وصفا لكل صورة: رجل يمشي مع كلبه، وسيارتان تنتظران عند الإشارة.\n"
	"摄像头看着街道，为每一帧写一句描述：一个人在遛狗，两辆车在等红灯，一个孩子在公园里玩。\n"
	"カメラは通りを見て、各フレームの説明を書きます：犬を散歩させている人、赤信号で待っている車。\n"
	"카메라는 거리를 보고 각 프레임에 대한 설명을 쓴다: 개를 산책시키는 사람, 빨간 신호의 차.\n"
	"def caption(frame):\n    return model.generate(frame, max_tokens=64)  # 🚀 👍🏽 👨‍👩‍👧\n\n";

/* s as a JSON string body (quotes, backslashes and controls escaped). */
static gchar *json_escape(const char *s)
{
	GString *o = g_string_new(NULL);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			g_string_append_printf(o, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			g_string_append_printf(o, "\\u%04x", (unsigned char)*s);
		else
			g_string_append_c(o, *s);
	}
	return g_string_free(o, FALSE);
}

static double now_s(void)
{
	return (double)g_get_monotonic_time() / 1e6;
}

static int bench_tokenizer(int argc, char **argv)
{
	gchar *model = NULL;
	gdouble seconds = 3.0;
	GOptionEntry entries[] = {
		{ "model", 'm', 0, G_OPTION_ARG_FILENAME, &model, "model (or vocab-only) GGUF", "FILE.gguf" },
		{ "seconds", 's', 0, G_OPTION_ARG_DOUBLE, &seconds, "time to spend encoding (default 3)", "N" },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	GOptionContext *ctx = g_option_context_new("- encode/decode speed of a model's tokenizer, as JSON");
	GError *err = NULL;
	struct tokenizer *tok = NULL;
	GString *text = g_string_new(NULL);
	GArray *ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
	GString *dec = g_string_new(NULL);
	int status = 2;

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
		fprintf(stderr, "captionctl bench tokenizer: %s\n", err->message);
		goto out;
	}
	if (!model || argc != 1 || !(seconds > 0 && seconds <= 3600)) {
		fprintf(stderr, "captionctl bench tokenizer: usage: --model FILE.gguf [--seconds N]\n");
		goto out;
	}
	status = 1;
	if (ctl_tokenizer_open(model, &tok) < 0)
		goto out;
	for (unsigned i = 0; text->len < (1u << 20); i++)
		g_string_append_printf(text, "%s[%u]\n", bench_text, i);

	unsigned flags = tokenizer_default_flags(tok);
	double t0 = now_s();
	if (tokenizer_encode(tok, text->str, text->len, flags, ids) < 0)
		goto out;
	double first_s = now_s() - t0;
	guint n_tokens = ids->len;

	unsigned iters = 0;
	t0 = now_s();
	double t = t0;
	do {
		g_array_set_size(ids, 0);
		if (tokenizer_encode(tok, text->str, text->len, flags, ids) < 0)
			goto out;
		iters++;
		t = now_s();
	} while (t - t0 < seconds);
	double enc_s = (t - t0) / iters;

	unsigned dec_iters = 0;
	t0 = now_s();
	do {
		g_string_truncate(dec, 0);
		tokenizer_decode(tok, (int32_t *)ids->data, ids->len, TOKENIZER_DECODE_SPECIAL, dec);
		dec_iters++;
		t = now_s();
	} while (t - t0 < seconds / 4);
	double dec_s = (t - t0) / dec_iters;

	/* decode(encode(x)) is x, after the BOS text when BOS was added */
	GString *want = g_string_new(NULL);
	if (flags & TOKENIZER_ADD_BOS)
		tokenizer_token_bytes(tok, tokenizer_bos(tok), TOKENIZER_DECODE_SPECIAL, want);
	g_string_append_len(want, text->str, (gssize)text->len);
	bool same = g_string_equal(want, dec);
	g_string_free(want, TRUE);

	gchar *model_json = json_escape(model);
	printf("{\"class\":\"bench\",\"bench\":\"tokenizer\",\"model\":\"%s\",\"vocab\":%u,"
	       "\"text_bytes\":%zu,\"tokens\":%u,\"iterations\":%u,"
	       "\"first_encode_ms\":%.3f,\"encode_ms\":%.3f,\"encode_mb_s\":%.2f,\"encode_tokens_s\":%.0f,"
	       "\"decode_ms\":%.3f,\"decode_mb_s\":%.2f,\"roundtrip_equal\":%s}\n",
	       model_json, tokenizer_vocab_size(tok), text->len, n_tokens, iters,
	       first_s * 1e3, enc_s * 1e3, (double)text->len / enc_s / 1e6, n_tokens / enc_s,
	       dec_s * 1e3, (double)dec->len / dec_s / 1e6, same ? "true" : "false");
	g_free(model_json);
	status = 0;
out:
	g_string_free(dec, TRUE);
	g_array_free(ids, TRUE);
	g_string_free(text, TRUE);
	tokenizer_destroy(tok);
	g_clear_error(&err);
	g_option_context_free(ctx);
	g_free(model);
	return status;
}

/* ---------------------------------------------------------------- lm */

/* The make-model tool of the build tree (tests/tools), next to captionctl's
 * own directory (build/daemon/captionctl → build/tests/tools/make-model). */
static gchar *default_make_model(void)
{
	gchar *self = g_file_read_link("/proc/self/exe", NULL);
	if (!self)
		return NULL;
	gchar *dir = g_path_get_dirname(self);
	gchar *p = g_build_filename(dir, "..", "tests", "tools", "make-model", NULL);
	g_free(dir);
	g_free(self);
	return p;
}

/* The preset's LM of type in cache_dir, made by make-model when absent. */
static gchar *bench_model(const char *tool, const char *cache_dir, const char *preset, const char *type)
{
	gchar *name = g_strdup_printf("lm-%s-%s-seed1.gguf", preset, type);
	gchar *path = g_build_filename(cache_dir, name, NULL);
	g_free(name);
	if (g_file_test(path, G_FILE_TEST_IS_REGULAR))
		return path;
	g_mkdir_with_parents(cache_dir, 0755);
	gchar *tmp = g_strconcat(path, ".part", NULL);
	const gchar *argv[] = { tool, "--preset", preset, "--lm-type", type, "--seed", "1", "--lm", tmp, NULL };
	gint status = -1;
	GError *e = NULL;
	fprintf(stderr, "captionctl bench lm: generating %s with %s\n", path, tool);
	gboolean ok = g_spawn_sync(NULL, (gchar **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &status, &e) &&
		      g_spawn_check_wait_status(status, NULL) && rename(tmp, path) == 0;
	if (!ok) {
		fprintf(stderr, "captionctl bench lm: make-model failed: %s\n", e ? e->message : "see above");
		g_free(path);
		path = NULL;
	}
	g_clear_error(&e);
	g_free(tmp);
	return path;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

#define BENCH_IMAGE_SLOTS 256
#define BENCH_MAX_BATCH 32
/* The memory target's configuration (issue 4): 16 sequences of 1,024
 * positions, prompts prefilled in chunks of --prefill-chunk rows; decoded
 * there with each sequence BENCH_LONG_PROMPTS prompts deep. */
#define BENCH_LONG_SLOTS 16
#define BENCH_LONG_CTX 1024
#define BENCH_LONG_PROMPTS 3
#define BENCH_DECODE_STEPS 32
#define BENCH_WARMUP_STEPS 4
#define BENCH_REPEATS 3

/* Prefill n ids of a sequence in steps of at most chunk rows, the image rows
 * (one per image_id, in order) handed to the step holding their slots. */
static int prefill_chunked(struct lm_ctx *c, struct lm_seq *q, const int32_t *ids, uint32_t n,
			   const float *rows, uint32_t d, int32_t image_id, uint32_t chunk, int32_t *next)
{
	uint32_t img = 0;
	for (uint32_t a = 0; a < n; a += chunk) {
		uint32_t m = MIN(chunk, n - a), k = 0;
		for (uint32_t i = 0; i < m; i++)
			k += ids[a + i] == image_id;
		struct lm_input in = { .seq = q, .ids = ids + a, .n = m, .image_id = image_id,
				       .slot_rows = k ? rows + (size_t)img * d : NULL, .n_slot_rows = k };
		int ret = lm_ctx_step(c, &in, 1, NULL, next);
		if (ret < 0)
			return ret;
		img += k;
	}
	return 0;
}

static int bench_lm(int argc, char **argv)
{
	gchar *model = NULL, *preset = NULL, *type = NULL, *cache_dir = NULL, *tool = NULL, *kv_name = NULL;
	gint chunk = 64;
	gint decode_chunk = LM_CHAIN_MAX;
	GOptionEntry entries[] = {
		{ "kv-type", 0, 0, G_OPTION_ARG_STRING, &kv_name, "KV cache type: f16 (default), q8_0, q4_0", "TYPE" },
		{ "prefill-chunk", 0, 0, G_OPTION_ARG_INT, &chunk, "prefill rows per step in the 16 x 1024 configuration (default 64)", "N" },
		{ "model", 'm', 0, G_OPTION_ARG_FILENAME, &model, "LM GGUF (default: generated from --preset/--type)", "LM.gguf" },
		{ "preset", 'p', 0, G_OPTION_ARG_STRING, &preset, "make-model preset: 450m or 1.6b", "NAME" },
		{ "type", 't', 0, G_OPTION_ARG_STRING, &type, "make-model LM type: F16, Q8_0, Q4_0", "TYPE" },
		{ "cache-dir", 0, 0, G_OPTION_ARG_FILENAME, &cache_dir, "where generated models are kept", "DIR" },
		{ "make-model", 0, 0, G_OPTION_ARG_FILENAME, &tool, "the make-model tool", "PATH" },
		{ "decode-chunk", 0, 0, G_OPTION_ARG_INT, &decode_chunk, "greedy decode steps per submit, 1 to 16 (default 16; 1: the one-step loop)", "K" },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	GOptionContext *octx = g_option_context_new("- LM prefill and decode speed on the GPU, as JSON");
	GError *err = NULL;
	struct ctl_lm e = { 0 };
	struct lm_ctx *c = NULL;
	struct lm_seq *seqs[BENCH_MAX_BATCH] = { 0 };
	GArray *ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
	float *rows = NULL;
	int status = 2;

	g_option_context_add_main_entries(octx, entries, NULL);
	if (!g_option_context_parse(octx, &argc, &argv, &err)) {
		fprintf(stderr, "captionctl bench lm: %s\n", err->message);
		goto out;
	}
	bool gen = !model && preset && type && (!strcmp(preset, "450m") || !strcmp(preset, "1.6b")) &&
		   (!strcmp(type, "F16") || !strcmp(type, "Q8_0") || !strcmp(type, "Q4_0"));
	uint32_t kv_type = TENSOR_F16;
	if (argc != 1 || (!model && !gen) || (kv_name && lm_kv_type_parse(kv_name, &kv_type) < 0) ||
	    chunk < 16 || chunk > 4096 || decode_chunk < 1 || decode_chunk > LM_CHAIN_MAX) {
		fprintf(stderr, "captionctl bench lm: usage: --preset 450m|1.6b --type F16|Q8_0|Q4_0 "
				"[--cache-dir DIR] [--make-model PATH] | --model LM.gguf; [--kv-type f16|q8_0|q4_0] "
				"[--prefill-chunk 16..4096] [--decode-chunk 1..16]\n");
		goto out;
	}
	status = 1;
	if (!model) {
		if (!cache_dir)
			cache_dir = g_build_filename(g_get_user_cache_dir(), "captiond", "bench-models", NULL);
		if (!tool)
			tool = default_make_model();
		if (!tool || !(model = bench_model(tool, cache_dir, preset, type)))
			goto out;
	}
	double t_load = now_s();
	if (ctl_lm_open(model, &e) < 0)
		goto out;
	t_load = now_s() - t_load;
	const struct lfm2_lm_hparams *hp = lm_model_hparams(e.model);

	/* The captioning prompt: spec §5.1 with one 256-slot image block. */
	GString *text = g_string_new("<|startoftext|><|im_start|>user\n<|image_start|>");
	for (int i = 0; i < BENCH_IMAGE_SLOTS; i++)
		g_string_append(text, "<image>");
	g_string_append(text, "<|image_end|>Describe this image.<|im_end|>\n<|im_start|>assistant\n");
	int ret = tokenizer_encode(e.tok, text->str, text->len, TOKENIZER_PARSE_SPECIAL, ids);
	g_string_free(text, TRUE);
	int32_t image_id = tokenizer_find(e.tok, "<image>", strlen("<image>"));
	uint32_t n_prompt = ids->len, n_img = 0;
	for (uint32_t i = 0; i < n_prompt; i++)
		n_img += g_array_index(ids, int32_t, i) == image_id;
	if (ret < 0 || image_id < 0 || n_img != BENCH_IMAGE_SLOTS) {
		fprintf(stderr, "captionctl bench lm: the vocabulary lacks the image tokens\n");
		goto out;
	}
	/* Image rows of embedding-like size (deterministic). */
	rows = g_new(float, (size_t)n_img * hp->d_model);
	uint64_t st = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < (size_t)n_img * hp->d_model; i++) {
		st ^= st << 13, st ^= st >> 7, st ^= st << 17;
		rows[i] = (float)((double)(st >> 40) / (double)(1ull << 24) - 0.5) * 0.1f;
	}
	uint32_t n_ctx = n_prompt + BENCH_WARMUP_STEPS + BENCH_DECODE_STEPS + 8;
	struct lm_ctx_params cp = { .n_slots = BENCH_MAX_BATCH, .n_ctx = n_ctx, .max_rows = n_prompt,
				    .max_logit_rows = BENCH_MAX_BATCH, .kv_type = kv_type, .kv_type_set = true };
	if ((ret = lm_ctx_create_params(e.model, &cp, &c)) < 0) {
		fprintf(stderr, "captionctl bench lm: context: %s\n", g_strerror(-ret));
		goto out;
	}
	struct lm_input pre = { .ids = (const int32_t *)ids->data, .n = n_prompt, .slot_rows = rows,
				.n_slot_rows = n_img, .image_id = image_id };
	int32_t next[BENCH_MAX_BATCH], chunk_out[BENCH_MAX_BATCH * LM_CHAIN_MAX];

	/* Prefill: one warm-up, then the median of BENCH_REPEATS (time to first
	 * token = prefill + the argmax read back). */
	double ttft[BENCH_REPEATS];
	for (int r = -1; r < BENCH_REPEATS; r++) {
		struct lm_seq *q = NULL;
		if ((ret = lm_seq_acquire(c, &q)) < 0)
			goto fail;
		pre.seq = q;
		double t0 = now_s();
		ret = lm_ctx_step(c, &pre, 1, NULL, next);
		double dt = now_s() - t0;
		lm_seq_release(q);
		if (ret < 0)
			goto fail;
		if (r >= 0)
			ttft[r] = dt;
	}
	qsort(ttft, BENCH_REPEATS, sizeof ttft[0], cmp_double);
	double ttft_s = ttft[BENCH_REPEATS / 2];

	static const uint32_t batches[] = { 1, 4, 16, 32 };
	double decode_tps[4];
	double step_ms[4];
	for (size_t bi = 0; bi < G_N_ELEMENTS(batches); bi++) {
		uint32_t B = batches[bi];
		struct lm_input in[BENCH_MAX_BATCH];
		int32_t tok[BENCH_MAX_BATCH];
		for (uint32_t k = 0; k < B; k++) {
			if ((ret = lm_seq_acquire(c, &seqs[k])) < 0)
				goto fail;
			pre.seq = seqs[k];
			if ((ret = lm_ctx_step(c, &pre, 1, NULL, &tok[k])) < 0)
				goto fail;
		}
		double t0 = 0;
		/* Greedy: chunk steps per submit (lm_ctx_decode_greedy), or the
		 * one-step loop (--decode-chunk 1). */
		for (int s = 0; s < BENCH_WARMUP_STEPS + BENCH_DECODE_STEPS;) {
			if (s == BENCH_WARMUP_STEPS)
				t0 = now_s();
			int left = (s < BENCH_WARMUP_STEPS ? BENCH_WARMUP_STEPS : BENCH_WARMUP_STEPS + BENCH_DECODE_STEPS) - s;
			uint32_t k = (uint32_t)MIN(decode_chunk, left);
			if (decode_chunk == 1) {
				for (uint32_t i = 0; i < B; i++)
					in[i] = (struct lm_input){ .seq = seqs[i], .ids = &tok[i], .n = 1 };
				if ((ret = lm_ctx_step(c, in, B, NULL, next)) < 0)
					goto fail;
				memcpy(tok, next, B * sizeof *tok);
			} else {
				if ((ret = lm_ctx_decode_greedy(c, seqs, tok, B, k, chunk_out)) < 0)
					goto fail;
				for (uint32_t i = 0; i < B; i++)
					tok[i] = chunk_out[i * k + k - 1];
			}
			s += (int)k;
		}
		double dt = now_s() - t0;
		decode_tps[bi] = (double)B * BENCH_DECODE_STEPS / dt;
		step_ms[bi] = dt / BENCH_DECODE_STEPS * 1e3;
		for (uint32_t k = 0; k < B; k++) {
			lm_seq_release(seqs[k]);
			seqs[k] = NULL;
		}
	}

	struct lm_ctx_memory mem;
	lm_ctx_memory(c, &mem);
	uint64_t kinds[4];
	gpu_lm_memory(e.glm, kinds);

	/* 16 x 1,024: memory as allocated (this context alone), chunked
	 * prefill, decode of 16 sequences BENCH_LONG_PROMPTS prompts deep. */
	lm_ctx_destroy(c);
	c = NULL;
	struct lm_ctx_params lp = { .n_slots = BENCH_LONG_SLOTS, .n_ctx = BENCH_LONG_CTX,
				    .max_rows = (uint32_t)chunk, .max_logit_rows = BENCH_LONG_SLOTS,
				    .kv_type = kv_type, .kv_type_set = true };
	if ((ret = lm_ctx_create_params(e.model, &lp, &c)) < 0) {
		fprintf(stderr, "captionctl bench lm: context of 16 x 1024: %s\n", g_strerror(-ret));
		goto out;
	}
	struct lm_ctx_memory lmem;
	lm_ctx_memory(c, &lmem);
	uint64_t lkinds[4];
	gpu_lm_memory(e.glm, lkinds);
	double long_ttft = 0, long_tps = 0, long_step = 0;
	uint32_t long_pos = 0;
	if (BENCH_LONG_PROMPTS * n_prompt + BENCH_WARMUP_STEPS + BENCH_DECODE_STEPS <= BENCH_LONG_CTX) {
		int32_t tok[BENCH_MAX_BATCH];
		for (uint32_t k = 0; k < BENCH_LONG_SLOTS; k++) {
			if ((ret = lm_seq_acquire(c, &seqs[k])) < 0)
				goto fail;
			for (int r = 0; r < BENCH_LONG_PROMPTS; r++) {
				double t0 = now_s();
				if ((ret = prefill_chunked(c, seqs[k], (const int32_t *)ids->data, n_prompt, rows,
							   hp->d_model, image_id, (uint32_t)chunk, &tok[k])) < 0)
					goto fail;
				if (k == 1 && r == 0) /* one warm prompt (k = 0 warmed the pipelines) */
					long_ttft = now_s() - t0;
			}
		}
		long_pos = lm_seq_pos(seqs[0]);
		double t0 = 0;
		for (int s = 0; s < BENCH_WARMUP_STEPS + BENCH_DECODE_STEPS; s++) {
			struct lm_input in[BENCH_MAX_BATCH];
			if (s == BENCH_WARMUP_STEPS) {
				t0 = now_s();
				gpu_device_profile_reset(e.gpu.dev); /* CAPTIOND_PROFILE: these steps only */
			}
			for (uint32_t k = 0; k < BENCH_LONG_SLOTS; k++)
				in[k] = (struct lm_input){ .seq = seqs[k], .ids = &tok[k], .n = 1 };
			if ((ret = lm_ctx_step(c, in, BENCH_LONG_SLOTS, NULL, next)) < 0)
				goto fail;
			memcpy(tok, next, BENCH_LONG_SLOTS * sizeof *tok);
		}
		double dt = now_s() - t0;
		const char *prof = getenv("CAPTIOND_PROFILE");
		if (prof && strcmp(prof, "1") == 0) {
			fprintf(stderr, "profile: %d decode steps of %d sequences from position %u (%s KV)\n",
				BENCH_DECODE_STEPS, BENCH_LONG_SLOTS, long_pos, lm_kv_type_name(kv_type));
			gpu_device_profile_print(e.gpu.dev, stderr);
			gpu_device_profile_reset(e.gpu.dev);
		}
		long_tps = (double)BENCH_LONG_SLOTS * BENCH_DECODE_STEPS / dt;
		long_step = dt / BENCH_DECODE_STEPS * 1e3;
		for (uint32_t k = 0; k < BENCH_LONG_SLOTS; k++) {
			lm_seq_release(seqs[k]);
			seqs[k] = NULL;
		}
	}
	gchar *model_json = json_escape(model);
	gchar *dev_json = json_escape(gpu_device_caps(e.gpu.dev)->name);
	printf("{\"class\":\"bench\",\"bench\":\"lm\",\"model\":\"%s\",\"device\":\"%s\","
	       "\"n_layer\":%u,\"d_model\":%u,\"n_vocab\":%u,\"load_s\":%.2f,"
	       "\"prompt_tokens\":%u,\"image_slots\":%u,\"prefill_tokens_s\":%.1f,\"ttft_ms\":%.2f,"
	       "\"decode_tokens_s\":{\"1\":%.1f,\"4\":%.1f,\"16\":%.1f,\"32\":%.1f},"
	       "\"decode_step_ms\":{\"1\":%.3f,\"4\":%.3f,\"16\":%.3f,\"32\":%.3f},"
	       "\"memory_bytes\":{\"weights\":%llu,\"kv_conv_pool\":%llu,\"scratch\":%llu,\"io\":%llu,"
	       "\"device_local\":%llu,\"host_visible\":%llu},\"pool_slots\":%u,\"pool_ctx\":%u,"
	       "\"kv_type\":\"%s\",\"kv_bytes\":%llu,"
	       "\"slots16_ctx1024\":{\"memory_bytes\":{\"weights\":%llu,\"kv\":%llu,\"kv_conv_pool\":%llu,"
	       "\"scratch\":%llu,\"io\":%llu,\"device_local\":%llu,\"host_visible\":%llu},"
	       "\"prefill_chunk\":%d,\"prompt_ms_chunked\":%.2f,\"decode_from_pos\":%u,"
	       "\"decode_tokens_s\":%.1f,\"decode_step_ms\":%.3f},\"decode_chunk\":%d}\n",
	       model_json, dev_json, hp->n_layer, hp->d_model, hp->n_vocab, t_load, n_prompt, n_img,
	       n_prompt / ttft_s, ttft_s * 1e3, decode_tps[0], decode_tps[1], decode_tps[2], decode_tps[3],
	       step_ms[0], step_ms[1], step_ms[2], step_ms[3],
	       (unsigned long long)lm_model_weight_bytes(e.model), (unsigned long long)mem.pool_bytes,
	       (unsigned long long)mem.scratch_bytes, (unsigned long long)mem.io_bytes,
	       (unsigned long long)(kinds[LM_MEM_WEIGHTS] + kinds[LM_MEM_SCRATCH]),
	       (unsigned long long)(kinds[LM_MEM_UPLOAD] + kinds[LM_MEM_READBACK]), BENCH_MAX_BATCH, n_ctx,
	       lm_kv_type_name(kv_type), (unsigned long long)mem.kv_bytes,
	       (unsigned long long)lm_model_weight_bytes(e.model), (unsigned long long)lmem.kv_bytes,
	       (unsigned long long)lmem.pool_bytes, (unsigned long long)lmem.scratch_bytes,
	       (unsigned long long)lmem.io_bytes,
	       (unsigned long long)(lkinds[LM_MEM_WEIGHTS] + lkinds[LM_MEM_SCRATCH]),
	       (unsigned long long)(lkinds[LM_MEM_UPLOAD] + lkinds[LM_MEM_READBACK]), chunk, long_ttft * 1e3,
	       long_pos, long_tps, long_step, decode_chunk);
	g_free(model_json);
	g_free(dev_json);
	status = 0;
	goto out;
fail:
	fprintf(stderr, "captionctl bench lm: step failed: %s\n", g_strerror(-ret));
out:
	for (int k = 0; k < BENCH_MAX_BATCH; k++)
		lm_seq_release(seqs[k]);
	lm_ctx_destroy(c);
	ctl_lm_close(&e);
	g_array_free(ids, TRUE);
	g_free(rows);
	g_clear_error(&err);
	g_option_context_free(octx);
	g_free(model);
	g_free(preset);
	g_free(type);
	g_free(cache_dir);
	g_free(tool);
	g_free(kv_name);
	return status;
}

struct bench {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *summary;
};

static const struct bench benches[] = {
	{ "lm", bench_lm, "LM prefill/decode on the GPU: --preset 450m|1.6b --type F16|Q8_0|Q4_0 | --model LM.gguf [--kv-type f16|q8_0|q4_0]" },
	{ "tokenizer", bench_tokenizer, "encode/decode speed: --model FILE.gguf [--seconds N]" },
	{ "vision", ctl_bench_vision_main, "encoder ms per frame: --mmproj MM.gguf [--sizes WxH,..] [--batches 1,4,16]" },
	{ "caption", ctl_bench_caption_main, "frame-to-caption latency: --model LM.gguf --mmproj MM.gguf [--tokens 32]" },
};

int ctl_bench_main(int argc, char **argv)
{
	size_t n = sizeof(benches) / sizeof(benches[0]);
	if (argc >= 2) {
		for (size_t i = 0; i < n; i++)
			if (!strcmp(argv[1], benches[i].name))
				return benches[i].main(argc - 1, argv + 1);
	}
	FILE *out = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? stdout : stderr;
	fprintf(out, "usage: captionctl bench NAME [ARGS...]\n\nbenchmarks (each prints one JSON object):\n");
	for (size_t i = 0; i < n; i++)
		fprintf(out, "  %-10s %s\n", benches[i].name, benches[i].summary);
	return out == stdout ? 0 : 2;
}
