/* model/prompt.h — the token ids of a caption request (spec §5).
 *
 * Renders the LFM2-VL chat layout for one user turn holding one image
 * followed by text, with an optional system turn, and expands the image
 * placeholder into its special tokens and image slots (§5.2):
 *
 *   <|startoftext|>[<|im_start|>system\nSYSTEM<|im_end|>\n]<|im_start|>user\n
 *   IMAGE-BLOCK TEXT<|im_end|>\n<|im_start|>assistant\n
 *
 * IMAGE-BLOCK is <|image_start|> N×<image> <|image_end|> for a single crop,
 * or, for a tiled image, <|img_row_R_col_C|> + one tile's slots per tile
 * (row-major), then <|img_thumbnail|> + the thumbnail's slots when there is
 * one. Image slots carry the <image> id; the caller substitutes projector
 * rows at those positions in order (§5.4).
 *
 * Exactly one BOS (§5.5): the template's <|startoftext|> text is the BOS.
 * The system and user texts are encoded without special-token parsing.
 * Special-token ids are looked up by their text in the model's vocabulary,
 * never assumed.
 *
 * Threads: as the tokenizer. Errors: 0, -ENOENT (a special token the layout
 * needs is missing from the vocabulary; err names it), -ENOMEM.
 */
#ifndef CAPTIOND_MODEL_PROMPT_H
#define CAPTIOND_MODEL_PROMPT_H

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

struct tokenizer;
struct image_plan;

struct prompt_request {
	const char *system;      /* NULL: no system turn (the LFM2-VL default) */
	const char *user_text;   /* the instruction after the image, e.g. "Describe this image." */
	const struct image_plan *image; /* the image's layout (model/image_plan.h) */
	uint32_t tile_tokens;    /* image slots per tile: (tile_size / (patch·downsample))² */
};

/* Append the request's ids to ids (a GArray of int32_t). *image_token_id
 * (may be NULL) gets the id the image slots carry. */
int prompt_build(struct tokenizer *tok, const struct prompt_request *req, GArray *ids,
		 int32_t *image_token_id, char *err, size_t err_size);

#endif
