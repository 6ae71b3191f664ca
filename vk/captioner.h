/* vk/captioner.h — frames in, captions out: the vision graph, the prompt and
 * the LM sequence API, on Vulkan, in one call or streaming.
 *
 *   captioner_create(dev, pipes, staging, LM.gguf, MM.gguf, cfg)
 *   captioner_run(frames[n]) → n captions                  (one call)
 *   captioner_submit(requests[n]); captioner_step(); captioner_take()  (streaming)
 *
 * Streaming (the daemon): each sequence holds one of max_batch LM slots from
 * submit until it finishes. captioner_submit encodes its frames in one
 * submit and prefills their prompts (each its own text, or the configured
 * one) in one LM step, sampling each first token; the new sequences then
 * join the running ones, and every captioner_step decodes all running
 * sequences by one token. A sequence that reaches EOS or max_tokens frees
 * its slot at once; its caption waits for captioner_take. A sequence's
 * tokens do not depend on what else runs beside it (the LM's rows are
 * independent; sampler k belongs to slot k), so a caption is the same
 * joined or alone under greedy sampling (tests/test-gpu-caption.c).
 *
 * One call: every frame of the batch through preprocessing, encoder and
 * projector in one submit (model/vision_graph.h); each frame's prompt
 * (model/prompt.h: chat layout, image block from its plan) with the
 * projector rows at its image slots; all prompts prefilled in one LM step,
 * then all sequences decoded together, one row each per step, until EOS
 * (<|im_end|>, spec §7.4) or max_tokens. Sampling is HF's order on the host
 * (spec §7.2): repetition penalty over every distinct id of prompt and
 * output, then greedy or temperature → top-k → min-p → draw.
 *
 * Memory is reserved at create for max_batch frames of at most
 * max_width × max_height (any aspect: a frame may take up to a full single
 * crop, 1024 patches); a batch beyond that returns -ENOSPC.
 *
 * Threads: a captioner belongs to the device's thread. Errors: 0 or
 * negative errno; err strings name the file or stage.
 */
#ifndef CAPTIOND_VK_CAPTIONER_H
#define CAPTIOND_VK_CAPTIONER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/image_plan.h"
#include "model/sampling.h"
#include "model/vision_graph.h"
#include "vk/device.h"
#include "vk/pipeline.h"
#include "vk/staging.h"

struct captioner_config {
	const char *prompt;            /* user text after the image; NULL: "Describe this image." */
	const char *system;            /* NULL: no system turn (the LFM2-VL default) */
	struct sampler_params sampling; /* spec §7.1: T 0.1, min_p 0.15, penalty 1.05, top_k 50 */
	uint64_t seed;
	uint32_t max_tokens;           /* caption length limit (tokens) */
	bool stop_on_eos;              /* stop at <|im_end|> (false: always max_tokens) */
	struct image_plan_params image;
	uint32_t max_batch;            /* frames per run */
	uint32_t max_width, max_height;
	bool prompt_logits;            /* keep every prompt position's logits (tests) */
	uint32_t kv_type;              /* KV cache: TENSOR_F16 (default), TENSOR_Q8_0, TENSOR_Q4_0 */

	uint32_t max_prompt_tokens;    /* room for a request's own prompt text of this many
					* tokens (0: as long as prompt's) */
	uint32_t sample_threads;       /* threads sampling a decode step's rows on the host (not
					* for greedy without penalty); 0: half the CPUs, at most 4,
					* from max_batch 8 on. The tokens do not depend on it. */
};

/* Liquid AI's recommended settings (spec §7.1), 64 tokens, 1 frame of 1920×1080. */
void captioner_config_default(struct captioner_config *cfg);

struct caption {
	char *text;             /* UTF-8, g_free */
	int32_t *tokens;        /* generated ids without the stop token, g_free */
	uint32_t n_tokens;
	uint32_t n_prompt;      /* prompt length (positions) */
	uint32_t n_image_tokens;
	float *prompt_logits;   /* [n_prompt][n_vocab] when cfg.prompt_logits, g_free */
	double encode_ms;       /* vision encoder for the whole batch */
	double prefill_ms;      /* the batch's prefill step */
	double decode_ms;       /* decode steps until this caption finished */
};
void caption_clear(struct caption *c); /* NULL-safe; frees the fields */

struct captioner;

int captioner_create(struct gpu_device *dev, const struct gpu_pipelines *pipes,
		     struct gpu_staging *st, const char *lm_path, const char *mmproj_path,
		     const struct captioner_config *cfg, struct captioner **out, char *err,
		     size_t err_size);
void captioner_destroy(struct captioner *c); /* NULL-safe */

uint32_t captioner_n_vocab(const struct captioner *c);

/* Caption n frames (1 ≤ n ≤ max_batch); out[n] gets one caption each.
 * -EBUSY while streamed sequences run or wait to be taken. */
int captioner_run(struct captioner *c, const struct vision_frame *frames, uint32_t n,
		  struct caption *out);

/* ---- streaming ---- */

struct captioner_request {
	const struct vision_frame *frame; /* read during the submit call only */
	const char *prompt;               /* NULL: cfg.prompt; read during the call only */
	uint64_t tag;                     /* the caller's, returned by captioner_take */
};

/* Encode n frames, prefill and sample their first tokens; the sequences
 * then run with the others (1 ≤ n ≤ captioner_free_slots). On an error
 * none of the n runs (-EINVAL bad request, -ENOSPC a prompt longer than
 * the context was sized for, a device error); the running ones go on. */
int captioner_submit(struct captioner *c, const struct captioner_request *req, uint32_t n);

/* One decode step of every running sequence (nothing when none runs). A
 * failed step ends every sequence in it: each is taken with the error. */
int captioner_step(struct captioner *c);

/* A finished sequence: 0 with *out (caption_clear it) and *tag, -EAGAIN
 * when none waits, or the negative errno that ended it (*tag set, *out
 * empty). In the order they finished. */
int captioner_take(struct captioner *c, struct caption *out, uint64_t *tag);

uint32_t captioner_running(const struct captioner *c);    /* sequences holding a slot */
/* Rows sampled so far from the device's min-p candidates, and rows sampled
 * from the whole logits row (the host path, or too many candidates). */
void captioner_sample_counts(const struct captioner *c, uint64_t *cand_rows, uint64_t *full_rows);
uint32_t captioner_free_slots(const struct captioner *c); /* max_batch − running */

/* 0 when a request with this prompt text fits the context (any frame up to
 * max_width × max_height), -ENOSPC when it is too long, or the tokenizer's
 * error. Any thread: it reads only what create fixed. */
int captioner_prompt_check(struct captioner *c, const char *text);

#endif
