/* daemon/ctl_generate.c — captionctl generate: text-only generation with the
 * LM on the Vulkan engine (the daemon's decode path), streamed through the
 * tokenizer's streaming decoder. Also the engine start-up shared with
 * captionctl bench lm (ctl_lm_open). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "daemon/captionctl.h"
#include "model/gguf.h"
#include "model/lm_graph.h"
#include "model/prompt.h"
#include "model/tokenizer.h"
#include "vk/device.h"
#include "vk/lfm2_lm.h"
#include "vk/pipeline.h"
#include "vk/staging.h"

#define MAX_DISPATCHES 4096 /* one step: ~16 per layer, more with pieces */

int ctl_lm_open(const char *path, struct ctl_lm *e)
{
	memset(e, 0, sizeof *e);
	struct gguf_file *f = NULL;
	struct gguf_error gerr = { 0 };
	char msg[512] = "";
	int ret = gguf_file_open(path, &f, &gerr);
	if (ret < 0) {
		if (ret == -EBADMSG)
			gguf_error_format(&gerr, path, msg, sizeof msg);
		else
			snprintf(msg, sizeof msg, "%s: %s", path, g_strerror(-ret));
		fprintf(stderr, "captionctl: %s\n", msg);
		return ret;
	}
	if ((ret = tokenizer_create_from_gguf(f, &e->tok, msg, sizeof msg)) < 0) {
		fprintf(stderr, "captionctl: %s: %s\n", path, msg);
		goto out;
	}
	if ((ret = ctl_gpu_open(&e->gpu)) < 0)
		goto out;
	if ((ret = gpu_lm_create(e->gpu.dev, e->gpu.pipes, e->gpu.staging, MAX_DISPATCHES, &e->glm)) < 0) {
		fprintf(stderr, "captionctl: Vulkan start-up failed: %s\n", g_strerror(-ret));
		goto out;
	}
	if ((ret = lm_model_create(gpu_lm_backend(e->glm), f, &e->model, msg, sizeof msg)) < 0)
		fprintf(stderr, "captionctl: %s: %s\n", path, msg);
out:
	gguf_file_destroy(f);
	if (ret < 0)
		ctl_lm_close(e);
	return ret;
}

void ctl_lm_close(struct ctl_lm *e)
{
	lm_model_destroy(e->model);
	gpu_lm_destroy(e->glm);
	ctl_gpu_close(&e->gpu);
	tokenizer_destroy(e->tok);
	memset(e, 0, sizeof *e);
}

bool ctl_lm_is_eog(int32_t id)
{
	return id == 7 || id == 2; /* <|im_end|>, <|endoftext|> (spec §7.4) */
}

int ctl_generate_main(int argc, char **argv)
{
	gchar *model = NULL, *kv_name = NULL;
	gint max_tokens = 256;
	gboolean greedy = TRUE;
	gint chunk = LM_CHAIN_MAX;
	GOptionEntry entries[] = {
		{ "kv-type", 0, 0, G_OPTION_ARG_STRING, &kv_name, "KV cache type: f16 (default), q8_0, q4_0", "TYPE" },
		{ "model", 'm', 0, G_OPTION_ARG_FILENAME, &model, "the LM GGUF", "LM.gguf" },
		{ "max-tokens", 'n', 0, G_OPTION_ARG_INT, &max_tokens, "tokens to generate at most (default 256)", "N" },
		{ "greedy", 0, 0, G_OPTION_ARG_NONE, &greedy, "argmax decoding (the default and, for now, the only mode)", NULL },
		{ "decode-chunk", 0, 0, G_OPTION_ARG_INT, &chunk, "greedy steps per submit, 1 to 16 (default 16; 1: the one-step loop)", "K" },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	GOptionContext *octx = g_option_context_new("\"PROMPT\" - generate text with the LM on the GPU");
	GError *err = NULL;
	struct ctl_lm e = { 0 };
	struct lm_ctx *c = NULL;
	struct lm_seq *seq = NULL;
	struct tokenizer_stream *ts = NULL;
	GArray *ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
	GString *out = g_string_new(NULL);
	int status = 2;

	g_option_context_add_main_entries(octx, entries, NULL);
	if (!g_option_context_parse(octx, &argc, &argv, &err)) {
		fprintf(stderr, "captionctl generate: %s\n", err->message);
		goto done;
	}
	uint32_t kv_type = 0;
	if (!model || argc != 2 || max_tokens < 1 || max_tokens > 65536 || chunk < 1 || chunk > LM_CHAIN_MAX ||
	    (kv_name && lm_kv_type_parse(kv_name, &kv_type) < 0)) {
		fprintf(stderr, "captionctl generate: usage: --model LM.gguf [--max-tokens N] [--greedy] "
				"[--kv-type f16|q8_0|q4_0] [--decode-chunk 1..16] \"PROMPT\"\n");
		goto done;
	}
	status = 1;
	if (ctl_lm_open(model, &e) < 0)
		goto done;
	struct prompt_request req = { .user_text = argv[1] };
	if (prompt_build(e.tok, &req, ids, NULL, NULL, 0) < 0)
		goto done;
	uint32_t n_prompt = ids->len;
	struct lm_ctx_params cp = { .n_slots = 1, .n_ctx = n_prompt + (uint32_t)max_tokens, .max_rows = n_prompt,
				    .max_logit_rows = 1, .kv_type = kv_type, .kv_type_set = kv_name != NULL };
	int ret = lm_ctx_create_params(e.model, &cp, &c);
	if (ret == 0)
		ret = lm_seq_acquire(c, &seq);
	if (ret < 0) {
		fprintf(stderr, "captionctl generate: context of %u positions: %s\n", n_prompt + max_tokens,
			g_strerror(-ret));
		goto done;
	}
	ts = tokenizer_stream_create(e.tok, 0);
	double t0 = g_get_monotonic_time() / 1e6, t_first = 0;
	int32_t tok = -1, toks[LM_CHAIN_MAX];
	struct lm_input in = { .seq = seq, .ids = (const int32_t *)ids->data, .n = n_prompt };
	int n_gen = 0;
	ret = lm_ctx_step(c, &in, 1, NULL, &tok); /* prefill */
	if (ret < 0) {
		fprintf(stderr, "captionctl generate: prefill: %s\n", g_strerror(-ret));
		goto done;
	}
	t_first = g_get_monotonic_time() / 1e6;
	/* Greedy: chunk steps per submit, each feeding its argmax to the next
	 * on the device; tokens after a stop (EOS, max tokens) are discarded. */
	uint32_t k = 1;
	toks[0] = tok;
	for (bool stop = false; !stop;) {
		for (uint32_t j = 0; j < k && !stop; j++) {
			tok = toks[j];
			if (ctl_lm_is_eog(tok))
				break;
			g_string_truncate(out, 0);
			tokenizer_stream_push(ts, tok, out);
			fputs(out->str, stdout);
			stop = ++n_gen == max_tokens;
		}
		fflush(stdout);
		if (stop || ctl_lm_is_eog(tok))
			break;
		k = (uint32_t)MIN(chunk, max_tokens - n_gen);
		if (k == 1 && chunk == 1) { /* the one-step loop */
			in = (struct lm_input){ .seq = seq, .ids = &tok, .n = 1 };
			ret = lm_ctx_step(c, &in, 1, NULL, toks);
		} else {
			ret = lm_ctx_decode_greedy(c, &seq, &tok, 1, k, toks);
		}
		if (ret < 0) {
			fprintf(stderr, "captionctl generate: step %d: %s\n", n_gen, g_strerror(-ret));
			goto done;
		}
	}
	g_string_truncate(out, 0);
	tokenizer_stream_flush(ts, out);
	printf("%s\n", out->str);
	double t1 = g_get_monotonic_time() / 1e6;
	fprintf(stderr, "captionctl generate: %u prompt tokens, %d generated; first token %.1f ms, "
			"%.1f tokens/s after it\n", n_prompt, n_gen, (t_first - t0) * 1e3,
		n_gen > 1 ? (n_gen - 1) / (t1 - t_first) : 0.0);
	status = 0;
done:
	tokenizer_stream_destroy(ts);
	lm_seq_release(seq);
	lm_ctx_destroy(c);
	ctl_lm_close(&e);
	g_array_free(ids, TRUE);
	g_string_free(out, TRUE);
	g_clear_error(&err);
	g_option_context_free(octx);
	g_free(model);
	g_free(kv_name);
	return status;
}
