/* model/hparams.h — LFM2-VL hyperparameters read from the two GGUF files.
 *
 * The LM file (general.architecture "lfm2") and the mmproj file ("clip",
 * clip.projector_type "lfm2") carry every shape the model code needs (spec
 * §1.5, §1.7). Reading also checks that every tensor the forward pass uses is
 * present with the shape the hyperparameters imply, so that later code can
 * index tensors without re-checking. Values not stored in the files (tile
 * size, token budgets, projector LayerNorm epsilon) are the documented
 * constants of spec §4.1.
 *
 * Errors: 0, -EBADMSG (a key is missing or wrong, or a tensor is missing or
 * has the wrong shape or an unsupported type), with a one-line reason in err.
 */
#ifndef CAPTIOND_MODEL_HPARAMS_H
#define CAPTIOND_MODEL_HPARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gguf_file;

#define LFM2_MAX_LAYERS 64

struct lfm2_lm_hparams {
	uint32_t n_layer;          /* decoder layers */
	uint32_t d_model;          /* hidden size d */
	uint32_t d_ff;             /* SwiGLU inner size (already auto-adjusted) */
	uint32_t n_head;           /* query heads */
	uint32_t n_head_kv;        /* KV heads of the attention layers */
	uint32_t head_dim;         /* d / n_head unless key_length is stored */
	uint32_t n_vocab;
	uint32_t l_cache;          /* short-conv kernel length (3) */
	uint32_t context_length;   /* informational */
	float rms_eps;
	float rope_theta;
	bool is_attention[LFM2_MAX_LAYERS]; /* from head_count_kv[i] != 0 */
	uint32_t n_attention_layers;
	uint32_t bos_id, eos_id, pad_id;
	bool add_bos;
	uint32_t file_type;        /* general.file_type, informational only */
};

struct lfm2_vision_hparams {
	uint32_t patch_size;       /* 16 */
	uint32_t width;            /* D_v */
	uint32_t d_ff;             /* vision MLP inner size */
	uint32_t n_layer;          /* layers to run (clip.vision.block_count) */
	uint32_t n_head;
	uint32_t head_dim;         /* width / n_head */
	uint32_t n_pos;            /* learned position grid entries (256 = 16x16) */
	uint32_t pos_grid;         /* sqrt(n_pos) */
	uint32_t image_size;       /* informational (forced 256 by the converter) */
	uint32_t projection_dim;   /* LM d */
	uint32_t scale_factor;     /* pixel-unshuffle factor (2) */
	uint32_t proj_hidden;      /* P = mm.1.weight ne1 */
	bool has_input_norm;       /* mm.input_norm present */
	bool use_gelu;
	float ln_eps;              /* vision LayerNorm epsilon (1e-6) */
	float proj_ln_eps;         /* projector LayerNorm epsilon (1e-5, not stored) */
	float image_mean[3];
	float image_std[3];
	uint32_t file_type;
};

int lfm2_lm_hparams_read(const struct gguf_file *f, struct lfm2_lm_hparams *hp, char *err, size_t err_size);
int lfm2_vision_hparams_read(const struct gguf_file *f, struct lfm2_vision_hparams *hp, char *err, size_t err_size);

#endif
