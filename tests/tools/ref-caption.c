/* tests/tools/ref-caption.c — caption a test-pattern frame with the plain-C
 * reference (tests/reference), the tokenizer and the prompt builder.
 *
 * This is the whole captioning path without the GPU: the largest part of the
 * daemon's job that runs until the Vulkan engine lands, and what
 * scripts/demo shows. Greedy decoding, stopping at <|im_end|> or
 * <|endoftext|> (spec §7.4).
 *
 *   ref-caption --lm LM.gguf --mmproj MMPROJ.gguf [--width 512 --height 288
 *               --seed 1] [--prompt TEXT] [--max-tokens 32]
 */
#include "model/gguf.h"
#include "model/image_plan.h"
#include "model/prompt.h"
#include "model/tokenizer.h"
#include "tests/reference/ref-image.h"
#include "tests/reference/ref-lfm2vl.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>

static struct tokenizer *load_tokenizer(const char *path)
{
	struct gguf_file *f = NULL;
	struct gguf_error gerr;
	struct tokenizer *tok = NULL;
	char err[256] = "";
	if (gguf_file_open(path, &f, &gerr)) {
		char line[512];
		gguf_error_format(&gerr, path, line, sizeof line);
		fprintf(stderr, "ref-caption: %s\n", line);
		return NULL;
	}
	if (tokenizer_create_from_gguf(f, &tok, err, sizeof err))
		fprintf(stderr, "ref-caption: %s: %s\n", path, err);
	gguf_file_destroy(f);
	return tok;
}

int main(int argc, char **argv)
{
	char *lm = NULL, *mmproj = NULL, *prompt = NULL;
	int width = 512, height = 288, seed = 1, max_tokens = 32;
	GOptionEntry entries[] = {
		{ "lm", 0, 0, G_OPTION_ARG_FILENAME, &lm, "language-model GGUF", "FILE" },
		{ "mmproj", 0, 0, G_OPTION_ARG_FILENAME, &mmproj, "vision projector GGUF", "FILE" },
		{ "width", 0, 0, G_OPTION_ARG_INT, &width, "test frame width (512)", "W" },
		{ "height", 0, 0, G_OPTION_ARG_INT, &height, "test frame height (288)", "H" },
		{ "seed", 0, 0, G_OPTION_ARG_INT, &seed, "test pattern seed (1)", "S" },
		{ "prompt", 0, 0, G_OPTION_ARG_STRING, &prompt, "instruction (Describe this image.)", "TEXT" },
		{ "max-tokens", 0, 0, G_OPTION_ARG_INT, &max_tokens, "caption length limit (32)", "N" },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	GError *gerror = NULL;
	GOptionContext *ctx = g_option_context_new("- caption a test frame with the plain-C reference");
	g_option_context_add_main_entries(ctx, entries, NULL);
	gboolean parsed = g_option_context_parse(ctx, &argc, &argv, &gerror);
	g_option_context_free(ctx);
	if (!parsed || !lm || !mmproj || width < 32 || height < 32 || width > 4096 || height > 4096 ||
	    max_tokens < 1 || max_tokens > 4096) {
		fprintf(stderr, "ref-caption: %s\n", gerror ? gerror->message : "need --lm and --mmproj, sane sizes");
		g_clear_error(&gerror);
		return 2;
	}

	int status = 1;
	struct ref_model *m = NULL;
	struct ref_state *s = NULL;
	struct tokenizer *tok = NULL;
	uint8_t *rgb = g_malloc((size_t)width * height * 3);
	float *slots = NULL, *logits = NULL;
	int32_t *out = g_new(int32_t, max_tokens);
	GArray *ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
	char err[256] = "";
	gint64 t0 = g_get_monotonic_time();

	if (ref_model_load(lm, mmproj, &m, err, sizeof err)) {
		fprintf(stderr, "ref-caption: %s\n", err);
		goto out;
	}
	if (!(tok = load_tokenizer(lm)))
		goto out;
	gint64 t_load = g_get_monotonic_time();

	ref_image_generate(rgb, (uint32_t)width, (uint32_t)height, (uint32_t)seed);
	struct image_plan_params params;
	struct image_plan plan;
	image_plan_params_default(&params);
	if (image_plan_compute(&params, (uint32_t)width, (uint32_t)height, &plan) || plan.tiled) {
		fprintf(stderr, "ref-caption: a %dx%d frame would be tiled; the reference encodes single crops\n",
			width, height);
		goto out;
	}
	slots = g_new(float, (size_t)plan.n_embd * m->lm.d_model);
	uint32_t cw, ch;
	if (ref_vision_encode(m, rgb, (uint32_t)width, (uint32_t)height, &cw, &ch, NULL, slots)) {
		fprintf(stderr, "ref-caption: vision encoder failed\n");
		goto out;
	}
	gint64 t_vision = g_get_monotonic_time();

	struct prompt_request req = { .user_text = prompt ? prompt : "Describe this image.",
				      .image = &plan, .tile_tokens = 256 };
	if (prompt_build(tok, &req, ids, NULL, err, sizeof err)) {
		fprintf(stderr, "ref-caption: %s\n", err);
		goto out;
	}
	if (ref_state_create(m, ids->len + (uint32_t)max_tokens, &s))
		goto out;
	logits = g_new(float, (size_t)ids->len * m->lm.n_vocab);
	if (ref_lm_forward(m, s, (int32_t *)ids->data, ids->len, slots, plan.n_embd, logits) ||
	    ref_greedy_continue(m, s, logits + (size_t)(ids->len - 1) * m->lm.n_vocab,
				(uint32_t)max_tokens, out)) {
		fprintf(stderr, "ref-caption: decoder failed\n");
		goto out;
	}
	gint64 t_done = g_get_monotonic_time();

	int n = 0;
	while (n < max_tokens && out[n] != 7 && out[n] != 2)
		n++;
	GString *text = g_string_new(NULL);
	tokenizer_decode(tok, out, (size_t)n, 0, text);
	printf("%s\n", text->str);
	fflush(stdout);
	fprintf(stderr, "frame %dx%d (crop %ux%u, %u image tokens), prompt %u positions, %d caption tokens; "
		"load %.0f ms, vision %.0f ms, prompt+decode %.0f ms\n",
		width, height, cw, ch, plan.n_embd, ids->len, n, (t_load - t0) / 1e3,
		(t_vision - t_load) / 1e3, (t_done - t_vision) / 1e3);
	g_string_free(text, TRUE);
	status = 0;
out:
	ref_state_destroy(s);
	ref_model_destroy(m);
	tokenizer_destroy(tok);
	g_array_free(ids, TRUE);
	g_free(rgb);
	g_free(slots);
	g_free(logits);
	g_free(out);
	g_free(lm);
	g_free(mmproj);
	g_free(prompt);
	return status;
}
