/* vk/captioner.c — frames to captions (see captioner.h). */
#include "vk/captioner.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "model/gguf.h"
#include "model/lm_graph.h"
#include "model/quant.h"
#include "model/prompt.h"
#include "model/tokenizer.h"
#include "vk/lfm2_lm.h"
#include "vk/lfm2_vision.h"

#define DEFAULT_PROMPT "Describe this image."

struct captioner {
	struct captioner_config cfg;
	char *prompt;
	struct gpu_lm *glm;
	struct gpu_vision *gvis;
	struct lm_model *lm;
	struct lm_ctx *lctx;
	struct vision_model *vm;
	struct vision_ctx *vctx;
	struct tokenizer *tok;
	struct sampler **samplers; /* [max_batch] */
	uint32_t n_vocab, d, n_ctx, max_rows, max_logit_rows, tile_tokens;
	int32_t eos;
	/* per run, sized at create */
	float *rows;               /* [budget tokens][d] */
	struct image_plan *plans;  /* [max_batch] */
	float *logits;             /* [max_logit_rows][V] */
	uint32_t *bits;            /* [max_batch][bitmap words] */
	uint32_t budget_tokens;
};

void captioner_config_default(struct captioner_config *cfg)
{
	*cfg = (struct captioner_config){
		.prompt = NULL,
		.sampling = { .temperature = 0.1f, .top_k = 50, .min_p = 0.15f, .repetition_penalty = 1.05f },
		.seed = 1,
		.max_tokens = 64,
		.stop_on_eos = true,
		.max_batch = 1,
		.max_width = 1920,
		.max_height = 1080,
		.kv_type = TENSOR_F16,
	};
	image_plan_params_default(&cfg->image);
}

void caption_clear(struct caption *c)
{
	if (!c)
		return;
	g_free(c->text);
	g_free(c->tokens);
	g_free(c->prompt_logits);
	memset(c, 0, sizeof *c);
}

static double now_ms(void)
{
	return (double)g_get_monotonic_time() / 1e3;
}

/* ids of one frame's prompt into ids (cleared first). */
static int build_prompt(struct captioner *c, const struct image_plan *plan, GArray *ids,
			int32_t *image_id, char *err, size_t err_size)
{
	g_array_set_size(ids, 0);
	struct prompt_request req = {
		.system = c->cfg.system, .user_text = c->prompt, .image = plan,
		.tile_tokens = c->tile_tokens,
	};
	return prompt_build(c->tok, &req, ids, image_id, err, err_size);
}

int captioner_create(struct gpu_device *dev, const struct gpu_pipelines *pipes,
		     struct gpu_staging *st, const char *lm_path, const char *mmproj_path,
		     const struct captioner_config *cfg, struct captioner **out, char *err,
		     size_t err_size)
{
	char dummy[8];
	if (!err) {
		err = dummy;
		err_size = sizeof dummy;
	}
	*out = NULL;
	if (cfg->max_batch == 0 || cfg->max_batch > 256 || cfg->max_tokens == 0 ||
	    cfg->max_tokens > 4096 || !cfg->max_width || !cfg->max_height) {
		snprintf(err, err_size, "captioner: bad batch, token or frame limits");
		return -EINVAL;
	}
	struct captioner *c = g_new0(struct captioner, 1);
	c->cfg = *cfg;
	c->prompt = g_strdup(cfg->prompt ? cfg->prompt : DEFAULT_PROMPT);
	c->cfg.prompt = c->prompt;
	c->cfg.system = NULL; /* not kept: callers' strings need not outlive create */
	struct gguf_file *lf = NULL, *mf = NULL;
	struct gguf_error ge = { 0 };
	GArray *ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
	int ret = gguf_file_open(lm_path, &lf, &ge);
	if (ret < 0) {
		snprintf(err, err_size, "%s: %s", lm_path, ge.message);
		goto fail;
	}
	if ((ret = gguf_file_open(mmproj_path, &mf, &ge)) < 0) {
		snprintf(err, err_size, "%s: %s", mmproj_path, ge.message);
		goto fail;
	}
	if ((ret = tokenizer_create_from_gguf(lf, &c->tok, err, err_size)) < 0)
		goto fail;
	c->eos = tokenizer_eos(c->tok);
	/* The vision recorder holds a whole batch: about one dispatch per
	 * crop per layer on top of the dense ops. */
	struct lfm2_vision_hparams vh;
	struct image_plan big;
	if ((ret = lfm2_vision_hparams_read(mf, &vh, err, err_size)) < 0)
		goto fail;
	if ((ret = image_plan_compute(&cfg->image, cfg->max_width, cfg->max_height, &big)) < 0) {
		snprintf(err, err_size, "captioner: frame size %ux%u not usable", cfg->max_width, cfg->max_height);
		goto fail;
	}
	const uint32_t n_disp = gpu_vision_dispatches(vh.n_layer, big.n_crops * cfg->max_batch);
	if ((ret = gpu_lm_create(dev, pipes, st, 4096, &c->glm)) < 0 ||
	    (ret = gpu_vision_create(dev, pipes, st, n_disp, &c->gvis)) < 0) {
		snprintf(err, err_size, "captioner: cannot create the Vulkan graphs (%d)", ret);
		goto fail;
	}
	if ((ret = lm_model_create(gpu_lm_backend(c->glm), lf, &c->lm, err, err_size)) < 0 ||
	    (ret = vision_model_create(gpu_vision_backend(c->gvis), mf, &c->vm, err, err_size)) < 0)
		goto fail;
	const struct lfm2_lm_hparams *lhp = lm_model_hparams(c->lm);
	const struct lfm2_vision_hparams *vhp = vision_model_hparams(c->vm);
	c->n_vocab = lhp->n_vocab;
	c->d = lhp->d_model;
	if (vhp->projection_dim != c->d) {
		snprintf(err, err_size, "mmproj projects to %u, the LM is %u wide", vhp->projection_dim, c->d);
		ret = -EINVAL;
		goto fail;
	}
	{
		uint32_t a = cfg->image.tile_size / (cfg->image.patch_size * cfg->image.downsample);
		c->tile_tokens = a * a;
	}
	/* Budget: max_batch frames of the largest size, each at least one full
	 * single crop (a smaller frame of another aspect may take that). */
	struct vision_budget one = { 0 }, bud = { 0 };
	if ((ret = vision_budget_add(c->vm, &cfg->image, cfg->max_width, cfg->max_height, 4, &one)) < 0) {
		snprintf(err, err_size, "captioner: frame size %ux%u not usable", cfg->max_width, cfg->max_height);
		goto fail;
	}
	const uint32_t ds2 = cfg->image.downsample * cfg->image.downsample;
	const uint32_t single_tokens = cfg->image.max_image_tokens; /* a full single crop */
	if (one.tokens < single_tokens) {
		one.patches = single_tokens * ds2;
		one.tokens = single_tokens;
	}
	one.image_bytes += (uint64_t)3 * 2 * 1024 * 1024; /* a single crop's passes */
	one.coeff_words += 2 * 4096 * 8;
	bud.frames = cfg->max_batch;
	bud.crops = one.crops * cfg->max_batch;
	bud.patches = one.patches * cfg->max_batch;
	bud.tokens = one.tokens * cfg->max_batch;
	bud.frame_bytes = one.frame_bytes * cfg->max_batch;
	bud.image_bytes = one.image_bytes * cfg->max_batch;
	bud.coeff_words = one.coeff_words * cfg->max_batch;
	if ((ret = vision_ctx_create(c->vm, &cfg->image, &bud, &c->vctx)) < 0) {
		snprintf(err, err_size, "captioner: cannot reserve the vision budget (%d)", ret);
		goto fail;
	}
	c->budget_tokens = bud.tokens;
	/* Prompt length of the largest image block. */
	struct image_plan pmax = big;
	if (pmax.n_positions < single_tokens + 2)
		pmax.n_positions = single_tokens + 2;
	int32_t image_id;
	if ((ret = build_prompt(c, &big, ids, &image_id, err, err_size)) < 0)
		goto fail;
	uint32_t prompt_max = ids->len - big.n_positions + pmax.n_positions;
	c->n_ctx = prompt_max + cfg->max_tokens + 1;
	c->max_rows = prompt_max * cfg->max_batch;
	c->max_logit_rows = cfg->prompt_logits ? c->max_rows : cfg->max_batch;
	struct lm_ctx_params lp = { .n_slots = cfg->max_batch, .n_ctx = c->n_ctx, .max_rows = c->max_rows,
				    .max_logit_rows = c->max_logit_rows, .kv_type = cfg->kv_type,
				    .kv_type_set = true };
	if ((ret = lm_ctx_create_params(c->lm, &lp, &c->lctx)) < 0) {
		snprintf(err, err_size, "captioner: cannot reserve the LM context (%d)", ret);
		goto fail;
	}
	c->samplers = g_new0(struct sampler *, cfg->max_batch);
	for (uint32_t i = 0; i < cfg->max_batch; i++)
		if ((ret = sampler_create(&cfg->sampling, cfg->seed + i, &c->samplers[i])) < 0) {
			snprintf(err, err_size, "captioner: bad sampling settings");
			goto fail;
		}
	c->rows = g_new(float, (size_t)bud.tokens * c->d);
	c->plans = g_new0(struct image_plan, cfg->max_batch);
	c->logits = g_new(float, (size_t)c->max_logit_rows * c->n_vocab);
	c->bits = g_new0(uint32_t, (size_t)cfg->max_batch * sampler_bitmap_words(c->n_vocab));
	g_array_free(ids, TRUE);
	gguf_file_destroy(lf);
	gguf_file_destroy(mf);
	*out = c;
	return 0;
fail:
	g_array_free(ids, TRUE);
	gguf_file_destroy(lf);
	gguf_file_destroy(mf);
	captioner_destroy(c);
	return ret;
}

void captioner_destroy(struct captioner *c)
{
	if (!c)
		return;
	if (c->samplers)
		for (uint32_t i = 0; i < c->cfg.max_batch; i++)
			sampler_destroy(c->samplers[i]);
	g_free(c->samplers);
	lm_ctx_destroy(c->lctx);
	lm_model_destroy(c->lm);
	vision_ctx_destroy(c->vctx);
	vision_model_destroy(c->vm);
	gpu_lm_destroy(c->glm);
	gpu_vision_destroy(c->gvis);
	tokenizer_destroy(c->tok);
	g_free(c->rows);
	g_free(c->plans);
	g_free(c->logits);
	g_free(c->bits);
	g_free(c->prompt);
	g_free(c);
}

uint32_t captioner_n_vocab(const struct captioner *c)
{
	return c->n_vocab;
}

/* Penalty over the sequence's ids so far, then the sampler. */
static int32_t pick(struct captioner *c, uint32_t i, float *logits)
{
	uint32_t *bits = c->bits + (size_t)i * sampler_bitmap_words(c->n_vocab);
	if (c->cfg.sampling.repetition_penalty != 1.0f)
		sampler_penalize(logits, c->n_vocab, bits, c->cfg.sampling.repetition_penalty);
	int32_t id = sampler_pick(c->samplers[i], logits, c->n_vocab);
	if (id >= 0)
		sampler_bitmap_set(bits, c->n_vocab, id);
	return id;
}

int captioner_run(struct captioner *c, const struct vision_frame *frames, uint32_t n,
		  struct caption *out)
{
	if (n == 0 || n > c->cfg.max_batch)
		return -EINVAL;
	memset(out, 0, n * sizeof *out);
	const uint32_t V = c->n_vocab, W = sampler_bitmap_words(V);
	struct lm_seq **seqs = g_new0(struct lm_seq *, n);
	GArray **ids = g_new0(GArray *, n);
	GArray **gen = g_new0(GArray *, n);
	struct lm_input *in = g_new0(struct lm_input, n);
	uint32_t *active = g_new0(uint32_t, n);
	int32_t *next = g_new0(int32_t, n);
	char err[256] = "";
	int ret = 0;
	/* 1. every frame through the encoder, one submit */
	uint32_t tokens = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct image_plan p;
		if (image_plan_compute(&c->cfg.image, frames[i].width, frames[i].height, &p) < 0) {
			ret = -EINVAL;
			goto out;
		}
		tokens += p.n_embd;
	}
	if (tokens > c->budget_tokens) {
		ret = -ENOSPC;
		goto out;
	}
	double t0 = now_ms();
	if ((ret = vision_ctx_encode(c->vctx, frames, n, c->rows, tokens, c->plans, NULL, 0)) < 0)
		goto out;
	double t_enc = now_ms() - t0;
	/* 2. prompts; 3. one prefill step for all */
	uint32_t rows = 0, logit_rows = 0, slot0 = 0;
	for (uint32_t i = 0; i < n; i++) {
		int32_t image_id;
		ids[i] = g_array_new(FALSE, FALSE, sizeof(int32_t));
		gen[i] = g_array_new(FALSE, FALSE, sizeof(int32_t));
		if ((ret = build_prompt(c, &c->plans[i], ids[i], &image_id, err, sizeof err)) < 0) {
			g_warning("captioner: %s", err);
			goto out;
		}
		if (ids[i]->len + c->cfg.max_tokens >= c->n_ctx) {
			ret = -ENOSPC;
			goto out;
		}
		if ((ret = lm_seq_acquire(c->lctx, &seqs[i])) < 0)
			goto out;
		in[i] = (struct lm_input){
			.seq = seqs[i], .ids = (const int32_t *)(void *)ids[i]->data, .n = ids[i]->len,
			.slot_rows = c->rows + (size_t)slot0 * c->d, .n_slot_rows = c->plans[i].n_embd,
			.image_id = image_id, .all_logits = c->cfg.prompt_logits,
		};
		slot0 += c->plans[i].n_embd;
		rows += ids[i]->len;
		logit_rows += c->cfg.prompt_logits ? ids[i]->len : 1;
		uint32_t *bits = c->bits + (size_t)i * W;
		memset(bits, 0, W * sizeof *bits);
		for (uint32_t k = 0; k < ids[i]->len; k++)
			sampler_bitmap_set(bits, V, g_array_index(ids[i], int32_t, k));
		out[i].n_prompt = ids[i]->len;
		out[i].n_image_tokens = c->plans[i].n_embd;
		out[i].encode_ms = t_enc;
	}
	if (rows > c->max_rows || logit_rows > c->max_logit_rows) {
		ret = -ENOSPC;
		goto out;
	}
	t0 = now_ms();
	if ((ret = lm_ctx_step(c->lctx, in, n, c->logits, NULL)) < 0)
		goto out;
	double t_pre = now_ms() - t0;
	uint32_t n_active = 0, lrow = 0;
	for (uint32_t i = 0; i < n; i++) {
		out[i].prefill_ms = t_pre;
		if (c->cfg.prompt_logits) {
			out[i].prompt_logits = g_memdup2(c->logits + (size_t)lrow * V, (size_t)ids[i]->len * V * 4);
			lrow += ids[i]->len;
		} else {
			lrow += 1;
		}
		int32_t id = pick(c, i, c->logits + (size_t)(lrow - 1) * V);
		if (id < 0) {
			ret = -EINVAL;
			goto out;
		}
		if (c->cfg.stop_on_eos && id == c->eos)
			continue;
		g_array_append_val(gen[i], id);
		if (gen[i]->len < c->cfg.max_tokens)
			active[n_active++] = i;
	}
	/* 4. decode every active sequence together, one row each */
	t0 = now_ms();
	while (n_active > 0) {
		for (uint32_t a = 0; a < n_active; a++) {
			uint32_t i = active[a];
			next[a] = g_array_index(gen[i], int32_t, gen[i]->len - 1);
			in[a] = (struct lm_input){ .seq = seqs[i], .ids = &next[a], .n = 1 };
		}
		if ((ret = lm_ctx_step(c->lctx, in, n_active, c->logits, NULL)) < 0)
			goto out;
		uint32_t kept = 0;
		for (uint32_t a = 0; a < n_active; a++) {
			uint32_t i = active[a];
			int32_t id = pick(c, i, c->logits + (size_t)a * V);
			if (id < 0) {
				ret = -EINVAL;
				goto out;
			}
			bool stop = c->cfg.stop_on_eos && id == c->eos;
			if (!stop)
				g_array_append_val(gen[i], id);
			if (stop || gen[i]->len >= c->cfg.max_tokens)
				out[i].decode_ms = now_ms() - t0;
			else
				active[kept++] = i;
		}
		n_active = kept;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (out[i].decode_ms == 0 && gen[i]->len > 1)
			out[i].decode_ms = now_ms() - t0;
		GString *s = g_string_new(NULL);
		tokenizer_decode(c->tok, (const int32_t *)(void *)gen[i]->data, gen[i]->len, 0, s);
		out[i].n_tokens = gen[i]->len;
		out[i].tokens = g_memdup2(gen[i]->data, (size_t)gen[i]->len * sizeof(int32_t));
		out[i].text = g_string_free(s, FALSE);
	}
out:
	for (uint32_t i = 0; i < n; i++) {
		lm_seq_release(seqs[i]);
		if (ids[i])
			g_array_free(ids[i], TRUE);
		if (gen[i])
			g_array_free(gen[i], TRUE);
		if (ret < 0)
			caption_clear(&out[i]);
	}
	g_free(seqs);
	g_free(ids);
	g_free(gen);
	g_free(in);
	g_free(active);
	g_free(next);
	return ret;
}
