/* vk/captioner.h — frames in, captions out: the vision graph, the prompt and
 * the LM sequence API in one call, on Vulkan.
 *
 *   captioner_create(dev, pipes, staging, LM.gguf, MM.gguf, cfg)
 *   captioner_run(frames[n]) → n captions
 *
 * One run: every frame of the batch through preprocessing, encoder and
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

/* Caption n frames (1 ≤ n ≤ max_batch); out[n] gets one caption each. */
int captioner_run(struct captioner *c, const struct vision_frame *frames, uint32_t n,
		  struct caption *out);

#endif
