/* model/prompt.c — chat layout and image-block expansion (spec §5). */
#include "model/prompt.h"

#include "model/image_plan.h"
#include "model/tokenizer.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The id of a special token by its text; -ENOENT with err filled when the
 * vocabulary lacks it. */
static int special_id(struct tokenizer *tok, const char *text, int32_t *id, char *err, size_t err_size)
{
	*id = tokenizer_find(tok, text, strlen(text));
	if (*id >= 0)
		return 0;
	if (err)
		snprintf(err, err_size, "the vocabulary has no '%s' token, which the LFM2-VL prompt needs", text);
	return -ENOENT;
}

static int append_text(struct tokenizer *tok, const char *text, GArray *ids)
{
	/* PARSE_SPECIAL: the template's own markers are written as text. */
	return tokenizer_encode(tok, text, strlen(text), TOKENIZER_PARSE_SPECIAL, ids);
}

/* Text from the configuration: marker texts in it stay text, so a prompt
 * cannot open or close turns. (HF would parse them; for ordinary prompts the
 * ids are the same, since every turn boundary is a special token.) */
static int append_plain(struct tokenizer *tok, const char *text, GArray *ids)
{
	return tokenizer_encode(tok, text, strlen(text), 0, ids);
}

static void append_repeated(GArray *ids, int32_t id, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		g_array_append_val(ids, id);
}

static int append_image_block(struct tokenizer *tok, const struct prompt_request *req, GArray *ids,
			      int32_t slot, char *err, size_t err_size)
{
	const struct image_plan *plan = req->image;
	int32_t start, end;
	int r = special_id(tok, "<|image_start|>", &start, err, err_size);
	if (!r)
		r = special_id(tok, "<|image_end|>", &end, err, err_size);
	if (r)
		return r;
	g_array_append_val(ids, start);
	if (!plan->tiled) {
		append_repeated(ids, slot, plan->n_embd);
	} else {
		for (uint32_t row = 1; row <= plan->grid_h; row++) {
			for (uint32_t col = 1; col <= plan->grid_w; col++) {
				char marker[40];
				int32_t id;
				snprintf(marker, sizeof marker, "<|img_row_%u_col_%u|>", row, col);
				if ((r = special_id(tok, marker, &id, err, err_size)))
					return r;
				g_array_append_val(ids, id);
				append_repeated(ids, slot, req->tile_tokens);
			}
		}
		if (plan->has_thumbnail) {
			int32_t thumb;
			if ((r = special_id(tok, "<|img_thumbnail|>", &thumb, err, err_size)))
				return r;
			g_array_append_val(ids, thumb);
			uint32_t tiles = plan->grid_w * plan->grid_h * req->tile_tokens;
			append_repeated(ids, slot, plan->n_embd - tiles);
		}
	}
	g_array_append_val(ids, end);
	return 0;
}

int prompt_build(struct tokenizer *tok, const struct prompt_request *req, GArray *ids,
		 int32_t *image_token_id, char *err, size_t err_size)
{
	int32_t slot;
	int r = special_id(tok, "<image>", &slot, err, err_size);
	if (r)
		return r;
	guint start_len = ids->len;
	r = append_text(tok, "<|startoftext|>", ids);
	if (!r && req->system) {
		r = append_text(tok, "<|im_start|>system\n", ids);
		if (!r)
			r = append_plain(tok, req->system, ids);
		if (!r)
			r = append_text(tok, "<|im_end|>\n", ids);
	}
	if (!r)
		r = append_text(tok, "<|im_start|>user\n", ids);
	if (!r && req->image)
		r = append_image_block(tok, req, ids, slot, err, err_size);
	if (!r && req->user_text)
		r = append_plain(tok, req->user_text, ids);
	if (!r)
		r = append_text(tok, "<|im_end|>\n<|im_start|>assistant\n", ids);
	if (r) {
		g_array_set_size(ids, start_len);
		return r;
	}
	if (image_token_id)
		*image_token_id = slot;
	return 0;
}
