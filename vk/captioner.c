/* vk/captioner.c — frames to captions (see captioner.h). */
#include "vk/captioner.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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
	/* streaming: one sequence per LM slot, index k also picks sampler k */
	struct run_seq *seqs;      /* [max_batch] */
	uint32_t n_running;
	struct lm_input *in;       /* [max_batch] */
	int32_t *next;             /* [max_batch] */
	uint32_t *order;           /* [max_batch]: running k in step order */
	GQueue done;               /* struct run_done *, finished, not yet taken */
	bool device_argmax;        /* greedy without penalty: the LM step's argmax, no logits read back */
	/* Sampling from the device's min-p candidates (lm_ctx_step_candidates):
	 * ~0.5 KiB read back per row instead of 256 KiB, and the pick walks
	 * <= 64 ids; a row with more goes the full way (pick). Off with
	 * CAPTIOND_SAMPLE_HOST=1, for greedy, min_p 0 and prompt logits. */
	bool cand_mode;
	uint32_t *cand;            /* [max_batch][LM_CAND_STRIDE] */
	uint32_t *cand_bits;       /* [max_batch][bitmap words]: the step's rows' bitmaps */
	uint64_t n_cand_rows, n_full_rows;
	/* Host sampling of a decode step's rows on several threads: a row is
	 * a pass or three over n_vocab logits (~0.1 ms at 65 k), so 64 rows
	 * would hold the step up for longer than the GPU takes. Rows are
	 * independent (sampler k, bitmap k, logits row a). */
	GThreadPool *pool;         /* NULL: on the calling thread */
	GMutex pick_lock;
	GCond pick_done;
	uint32_t pick_pending, pick_n, pick_parts;
	struct image_plan big;     /* the largest frame's plan */
	uint32_t pmax_positions;   /* image positions of the largest block */
	uint32_t prompt_max;       /* longest prompt (positions) the context holds */
};

/* A running sequence (one LM slot). */
struct run_seq {
	struct lm_seq *seq;        /* NULL: the slot is free */
	GArray *gen;               /* int32 ids sampled so far */
	uint64_t tag;
	struct caption cap;        /* timing and prompt fields filled as it runs */
	double t_decode0;          /* when its prefill ended (ms) */
};

struct run_done {
	uint64_t tag;
	int status;                /* 0, or the error that ended the sequence */
	struct caption cap;
};

static void pick_task(gpointer data, gpointer user);

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

/* ids of one frame's prompt into ids (cleared first); text NULL: the
 * configured prompt. */
static int build_prompt(struct captioner *c, const struct image_plan *plan, const char *text, GArray *ids,
			int32_t *image_id, char *err, size_t err_size)
{
	g_array_set_size(ids, 0);
	struct prompt_request req = {
		.system = c->cfg.system, .user_text = text ? text : c->prompt, .image = plan,
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
	g_queue_init(&c->done);
	g_mutex_init(&c->pick_lock);
	g_cond_init(&c->pick_done);
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
	if ((ret = build_prompt(c, &big, NULL, ids, &image_id, err, err_size)) < 0)
		goto fail;
	c->big = big;
	c->pmax_positions = pmax.n_positions;
	uint32_t prompt_max = ids->len - big.n_positions + pmax.n_positions;
	{
		/* Room for a request's own prompt text of up to max_prompt_tokens. */
		GArray *t = g_array_new(FALSE, FALSE, sizeof(int32_t));
		ret = tokenizer_encode(c->tok, c->prompt, strlen(c->prompt), 0, t);
		uint32_t own = ret < 0 ? 0 : t->len;
		g_array_free(t, TRUE);
		if (ret < 0) {
			snprintf(err, err_size, "captioner: cannot tokenize the prompt (%d)", ret);
			goto fail;
		}
		if (cfg->max_prompt_tokens > own)
			prompt_max += cfg->max_prompt_tokens - own;
	}
	c->prompt_max = prompt_max;
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
	c->seqs = g_new0(struct run_seq, cfg->max_batch);
	c->in = g_new0(struct lm_input, cfg->max_batch);
	c->next = g_new0(int32_t, cfg->max_batch);
	c->order = g_new0(uint32_t, cfg->max_batch);
	c->device_argmax = cfg->sampling.temperature <= 0.0f && cfg->sampling.repetition_penalty == 1.0f &&
			   !cfg->prompt_logits;
	{
		const char *host = getenv("CAPTIOND_SAMPLE_HOST");
		c->cand_mode = !c->device_argmax && !cfg->prompt_logits &&
			       sampler_candidates_usable(c->samplers[0]) && !(host && strcmp(host, "1") == 0);
		if (c->cand_mode) {
			c->cand = g_new(uint32_t, (size_t)cfg->max_batch * LM_CAND_STRIDE);
			c->cand_bits = g_new(uint32_t, (size_t)cfg->max_batch * sampler_bitmap_words(c->n_vocab));
		}
	}
	{
		const guint cpus = g_get_num_processors();
		const uint32_t threads = cfg->sample_threads ? MIN(cfg->sample_threads, 16u)
					 : cfg->max_batch >= 8 ? MAX(1u, MIN(cpus / 2, 4u)) : 1;
		if (!c->device_argmax && !c->cand_mode && threads > 1)
			c->pool = g_thread_pool_new(pick_task, c, (gint)threads - 1, TRUE, NULL);
	}
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

static void seq_finish(struct captioner *c, uint32_t k, int status, bool keep);

void captioner_destroy(struct captioner *c)
{
	if (!c)
		return;
	if (c->pool)
		g_thread_pool_free(c->pool, FALSE, TRUE);
	g_mutex_clear(&c->pick_lock);
	g_cond_clear(&c->pick_done);
	if (c->seqs)
		for (uint32_t k = 0; k < c->cfg.max_batch; k++)
			seq_finish(c, k, -ECANCELED, false);
	struct run_done *dn;
	while ((dn = g_queue_pop_head(&c->done))) {
		caption_clear(&dn->cap);
		g_free(dn);
	}
	g_free(c->seqs);
	g_free(c->in);
	g_free(c->next);
	g_free(c->order);
	g_free(c->cand);
	g_free(c->cand_bits);
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

void captioner_sample_counts(const struct captioner *c, uint64_t *cand_rows, uint64_t *full_rows)
{
	*cand_rows = c->n_cand_rows;
	*full_rows = c->n_full_rows;
}

uint32_t captioner_running(const struct captioner *c)
{
	return c->n_running;
}

uint32_t captioner_free_slots(const struct captioner *c)
{
	return c->cfg.max_batch - c->n_running;
}

int captioner_prompt_check(struct captioner *c, const char *text)
{
	GArray *ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
	char err[128];
	int32_t image_id;
	int ret = build_prompt(c, &c->big, text, ids, &image_id, err, sizeof err);
	if (ret == 0 && (uint64_t)ids->len - c->big.n_positions + c->pmax_positions > c->prompt_max)
		ret = -ENOSPC;
	g_array_free(ids, TRUE);
	return ret;
}

/* Penalty over the sequence's ids so far, then slot k's sampler. */
static int32_t pick(struct captioner *c, uint32_t k, float *logits)
{
	uint32_t *bits = c->bits + (size_t)k * sampler_bitmap_words(c->n_vocab);
	if (c->cfg.sampling.repetition_penalty != 1.0f)
		sampler_penalize(logits, c->n_vocab, bits, c->cfg.sampling.repetition_penalty);
	int32_t id = sampler_pick(c->samplers[k], logits, c->n_vocab);
	if (id >= 0)
		sampler_bitmap_set(bits, c->n_vocab, id);
	return id;
}

/* Part `part` of pick_parts of the step's rows: next[a] for each. */
static void pick_rows(struct captioner *c, uint32_t part)
{
	const uint32_t a0 = c->pick_n * part / c->pick_parts, a1 = c->pick_n * (part + 1) / c->pick_parts;
	for (uint32_t a = a0; a < a1; a++)
		c->next[a] = pick(c, c->order[a], c->logits + (size_t)a * c->n_vocab);
}

static void pick_task(gpointer data, gpointer user)
{
	struct captioner *c = user;
	pick_rows(c, GPOINTER_TO_UINT(data) - 1);
	g_mutex_lock(&c->pick_lock);
	if (--c->pick_pending == 0)
		g_cond_signal(&c->pick_done);
	g_mutex_unlock(&c->pick_lock);
}

/* next[a] for the step's n rows (order[a] their slots), on the pool's
 * threads and this one when there are enough rows to share. */
static void pick_step(struct captioner *c, uint32_t n)
{
	const uint32_t threads = c->pool ? (uint32_t)g_thread_pool_get_max_threads(c->pool) + 1 : 1;
	c->pick_n = n;
	c->n_full_rows += n;
	c->pick_parts = MAX(1u, MIN(threads, n / 4));
	c->pick_pending = c->pick_parts - 1;
	for (uint32_t p = 1; p < c->pick_parts; p++)
		g_thread_pool_push(c->pool, GUINT_TO_POINTER(p + 1), NULL);
	pick_rows(c, 0);
	g_mutex_lock(&c->pick_lock);
	while (c->pick_pending)
		g_cond_wait(&c->pick_done, &c->pick_lock);
	g_mutex_unlock(&c->pick_lock);
}

/* A candidates step for n rows, row a for slot order[a]: the rows'
 * bitmaps go up with it. */
static int cand_step(struct captioner *c, uint32_t n, const uint32_t *order)
{
	const uint32_t W = sampler_bitmap_words(c->n_vocab);
	for (uint32_t a = 0; a < n; a++)
		memcpy(c->cand_bits + (size_t)a * W, c->bits + (size_t)order[a] * W, W * sizeof(uint32_t));
	float t, lmp;
	sampler_candidate_params(c->samplers[0], &t, &lmp);
	struct lm_cand_params p = { .bits = c->cand_bits, .penalty = c->cfg.sampling.repetition_penalty,
				    .t = t, .log_min_p = lmp };
	return lm_ctx_step_candidates(c->lctx, c->in, n, &p, c->cand);
}

/* Slot k's id from row a of the last candidates step: the penalty on the
 * candidates here (the host's arithmetic, as pick's), or pick on the whole
 * row when the device found too many (or could not judge it). */
static int32_t cand_pick(struct captioner *c, uint32_t a, uint32_t k)
{
	const uint32_t V = c->n_vocab;
	const uint32_t *o = c->cand + (size_t)a * LM_CAND_STRIDE;
	uint32_t *bits = c->bits + (size_t)k * sampler_bitmap_words(V);
	const float r = c->cfg.sampling.repetition_penalty;
	if (o[0] > LM_CAND_CAP) {
		float *row = c->logits + (size_t)a * V;
		int ret = lm_ctx_read_logits(c->lctx, a, row);
		c->n_full_rows++;
		return ret < 0 ? ret : pick(c, k, row);
	}
	uint32_t ids[LM_CAND_CAP];
	float z[LM_CAND_CAP];
	for (uint32_t i = 0; i < o[0]; i++) {
		ids[i] = o[1 + 2 * i];
		memcpy(&z[i], &o[2 + 2 * i], sizeof(float));
		if (ids[i] < V && r != 1.0f && ((bits[ids[i] / 32] >> (ids[i] % 32)) & 1u))
			z[i] = z[i] < 0 ? z[i] * r : z[i] / r; /* sampler_penalize's */
	}
	c->n_cand_rows++;
	int32_t id = sampler_pick_candidates(c->samplers[k], ids, z, o[0], V);
	if (id == -EAGAIN) /* the device marks such rows whole: a disagreement */
		return -EIO;
	if (id >= 0)
		sampler_bitmap_set(bits, V, id);
	return id;
}

/* Free slot k; keep: its caption (or status) goes to the done queue. */
static void seq_finish(struct captioner *c, uint32_t k, int status, bool keep)
{
	struct run_seq *r = &c->seqs[k];
	if (!r->seq)
		return;
	lm_seq_release(r->seq);
	r->seq = NULL;
	c->n_running--;
	if (keep) {
		struct run_done *dn = g_new0(struct run_done, 1);
		dn->tag = r->tag;
		dn->status = status;
		dn->cap = r->cap;
		if (status == 0) {
			if (r->gen->len > 1)
				dn->cap.decode_ms = now_ms() - r->t_decode0;
			GString *s = g_string_new(NULL);
			tokenizer_decode(c->tok, (const int32_t *)(void *)r->gen->data, r->gen->len, 0, s);
			dn->cap.n_tokens = r->gen->len;
			dn->cap.tokens = g_memdup2(r->gen->data, (size_t)r->gen->len * sizeof(int32_t));
			dn->cap.text = g_string_free(s, FALSE);
		} else {
			caption_clear(&dn->cap);
		}
		g_queue_push_tail(&c->done, dn);
	} else {
		caption_clear(&r->cap);
	}
	memset(&r->cap, 0, sizeof r->cap);
	g_array_free(r->gen, TRUE);
	r->gen = NULL;
}

/* Slot k sampled id: keep it or finish the sequence. */
static void seq_advance(struct captioner *c, uint32_t k, int32_t id)
{
	struct run_seq *r = &c->seqs[k];
	if (id < 0) {
		seq_finish(c, k, -EINVAL, true);
		return;
	}
	bool stop = c->cfg.stop_on_eos && id == c->eos;
	if (!stop)
		g_array_append_val(r->gen, id);
	if (stop || r->gen->len >= c->cfg.max_tokens)
		seq_finish(c, k, 0, true);
}

int captioner_submit(struct captioner *c, const struct captioner_request *req, uint32_t n)
{
	if (n == 0 || n > c->cfg.max_batch - c->n_running)
		return -EINVAL;
	const uint32_t V = c->n_vocab, W = sampler_bitmap_words(V);
	struct vision_frame *vf = g_new(struct vision_frame, n);
	GArray **ids = g_new0(GArray *, n);
	uint32_t *slot = g_new0(uint32_t, n);
	uint32_t n_taken = 0;
	char err[256] = "";
	int ret = 0;
	/* 1. every frame through the encoder, one submit */
	uint32_t tokens = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct image_plan p;
		vf[i] = *req[i].frame;
		if (image_plan_compute(&c->cfg.image, vf[i].width, vf[i].height, &p) < 0) {
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
	if ((ret = vision_ctx_encode(c->vctx, vf, n, c->rows, tokens, c->plans, NULL, 0)) < 0)
		goto out;
	double t_enc = now_ms() - t0;
	/* 2. prompts in free slots; 3. one prefill step for the new sequences */
	uint32_t rows = 0, logit_rows = 0, slot0 = 0, k = 0;
	for (uint32_t i = 0; i < n; i++) {
		int32_t image_id;
		ids[i] = g_array_new(FALSE, FALSE, sizeof(int32_t));
		if ((ret = build_prompt(c, &c->plans[i], req[i].prompt, ids[i], &image_id, err, sizeof err)) < 0) {
			g_warning("captioner: %s", err);
			goto out;
		}
		if (ids[i]->len + c->cfg.max_tokens >= c->n_ctx) {
			ret = -ENOSPC;
			goto out;
		}
		while (c->seqs[k].seq)
			k++;
		struct run_seq *r = &c->seqs[k];
		if ((ret = lm_seq_acquire(c->lctx, &r->seq)) < 0)
			goto out;
		slot[n_taken++] = k;
		c->n_running++;
		r->gen = g_array_new(FALSE, FALSE, sizeof(int32_t));
		r->tag = req[i].tag;
		r->cap = (struct caption){ .n_prompt = ids[i]->len, .n_image_tokens = c->plans[i].n_embd,
					   .encode_ms = t_enc };
		c->in[i] = (struct lm_input){
			.seq = r->seq, .ids = (const int32_t *)(void *)ids[i]->data, .n = ids[i]->len,
			.slot_rows = c->rows + (size_t)slot0 * c->d, .n_slot_rows = c->plans[i].n_embd,
			.image_id = image_id, .all_logits = c->cfg.prompt_logits,
		};
		slot0 += c->plans[i].n_embd;
		rows += ids[i]->len;
		logit_rows += c->cfg.prompt_logits ? ids[i]->len : 1;
		uint32_t *bits = c->bits + (size_t)k * W;
		memset(bits, 0, W * sizeof *bits);
		for (uint32_t t = 0; t < ids[i]->len; t++)
			sampler_bitmap_set(bits, V, g_array_index(ids[i], int32_t, t));
	}
	if (rows > c->max_rows || logit_rows > c->max_logit_rows) {
		ret = -ENOSPC;
		goto out;
	}
	t0 = now_ms();
	ret = c->device_argmax ? lm_ctx_step(c->lctx, c->in, n, NULL, c->next)
	      : c->cand_mode   ? cand_step(c, n, slot)
			       : lm_ctx_step(c->lctx, c->in, n, c->logits, NULL);
	if (ret < 0)
		goto out;
	const double t1 = now_ms();
	uint32_t lrow = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct run_seq *r = &c->seqs[slot[i]];
		r->cap.prefill_ms = t1 - t0;
		r->t_decode0 = t1;
		if (c->cfg.prompt_logits)
			r->cap.prompt_logits = g_memdup2(c->logits + (size_t)lrow * V,
							 (size_t)ids[i]->len * V * sizeof(float));
		lrow += c->cfg.prompt_logits ? ids[i]->len : 1;
		c->n_full_rows += !c->device_argmax && !c->cand_mode;
		seq_advance(c, slot[i], c->device_argmax ? c->next[i]
					: c->cand_mode ? cand_pick(c, i, slot[i])
						       : pick(c, slot[i], c->logits + (size_t)(lrow - 1) * V));
	}
out:
	if (ret < 0)
		for (uint32_t i = 0; i < n_taken; i++)
			seq_finish(c, slot[i], ret, false);
	for (uint32_t i = 0; i < n; i++)
		if (ids[i])
			g_array_free(ids[i], TRUE);
	g_free(ids);
	g_free(slot);
	g_free(vf);
	return ret;
}

int captioner_step(struct captioner *c)
{
	uint32_t n = 0;
	for (uint32_t k = 0; k < c->cfg.max_batch; k++) {
		struct run_seq *r = &c->seqs[k];
		if (!r->seq)
			continue;
		c->order[n] = k;
		c->in[n] = (struct lm_input){ .seq = r->seq, .n = 1,
					      .ids = &g_array_index(r->gen, int32_t, r->gen->len - 1) };
		n++;
	}
	if (n == 0)
		return 0;
	int ret = c->device_argmax ? lm_ctx_step(c->lctx, c->in, n, NULL, c->next)
		  : c->cand_mode   ? cand_step(c, n, c->order)
				   : lm_ctx_step(c->lctx, c->in, n, c->logits, NULL);
	if (ret < 0) {
		/* the step left its sequences undefined: end them all */
		for (uint32_t a = 0; a < n; a++)
			seq_finish(c, c->order[a], ret, true);
		return ret;
	}
	if (c->cand_mode)
		for (uint32_t a = 0; a < n; a++)
			c->next[a] = cand_pick(c, a, c->order[a]);
	else if (!c->device_argmax)
		pick_step(c, n);
	for (uint32_t a = 0; a < n; a++)
		seq_advance(c, c->order[a], c->next[a]);
	return 0;
}

int captioner_take(struct captioner *c, struct caption *out, uint64_t *tag)
{
	struct run_done *dn = g_queue_pop_head(&c->done);
	if (!dn)
		return -EAGAIN;
	*out = dn->cap;
	*tag = dn->tag;
	const int status = dn->status;
	g_free(dn);
	return status;
}

int captioner_run(struct captioner *c, const struct vision_frame *frames, uint32_t n,
		  struct caption *out)
{
	if (n == 0 || n > c->cfg.max_batch)
		return -EINVAL;
	if (c->n_running || !g_queue_is_empty(&c->done))
		return -EBUSY;
	memset(out, 0, n * sizeof *out);
	struct captioner_request *req = g_new(struct captioner_request, n);
	for (uint32_t i = 0; i < n; i++)
		req[i] = (struct captioner_request){ .frame = &frames[i], .tag = i };
	int ret = captioner_submit(c, req, n);
	g_free(req);
	while (ret == 0 && c->n_running)
		ret = captioner_step(c);
	struct caption cap;
	uint64_t tag;
	int st;
	while ((st = captioner_take(c, &cap, &tag)) != -EAGAIN) {
		if (st < 0 && ret == 0)
			ret = st;
		if (tag < n)
			out[tag] = cap;
		else
			caption_clear(&cap);
	}
	if (ret < 0)
		for (uint32_t i = 0; i < n; i++)
			caption_clear(&out[i]);
	return ret;
}
