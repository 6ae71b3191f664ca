/* tests/tools/model-gen.h — deterministic random LFM2-VL test models (the
 * generator behind tests/tools/make-model; the contract is in
 * docs/test-models.md, the layout in spec §1.5-§1.8).
 *
 * The layout (every key with its value, every tensor with its GGUF shape and
 * type) is data, model_gen_layout_create(): the file writer here and the
 * in-memory builder of tests/gguf-bytes.h both read it, so it is written
 * down once.
 *
 * Every tensor's floats come from its own random stream, seeded from a hash
 * of its name and the seed, so adding a tensor changes no other and the
 * chosen types do not change the floats behind any tensor.
 */
#ifndef CAPTIOND_TESTS_MODEL_GEN_H
#define CAPTIOND_TESTS_MODEL_GEN_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "model/gguf.h"

struct model_gen_options {
	const char *preset; /* "tiny", "450m", "1.6b" */
	uint32_t lm_type;   /* main weight type of the LM file */
	uint32_t mm_type;   /* main weight type of the mmproj file */
	uint64_t seed;
	bool verbose;       /* list tensors on stderr */
};

/* A model's shape (spec §1.9). The projector maps to the LM width d. */
struct model_gen_shape {
	const char *name;
	const char *kinds; /* one letter per LM layer: C short-conv, A attention */
	uint32_t d, n_head, n_kv, ff, vocab, context_length;
	uint32_t v_width, v_ff, v_layers, v_heads, proj_hidden;
	uint32_t patch, n_pos; /* patch side; position-embedding rows */
};

/* The presets ("tiny", "450m", "1.6b"); NULL for another name. */
const struct model_gen_shape *model_gen_preset(const char *name);

/* One key. ARRAY values are n elements of elem at arr (STRING: char *). */
struct model_gen_kv {
	const char *key;
	enum gguf_value_type type; /* UINT32, FLOAT32, BOOL, STRING or ARRAY */
	uint32_t u32;
	float f32;
	bool b;
	const char *str;
	enum gguf_value_type elem;
	const void *arr;
	uint64_t n;
};

enum model_gen_init { MODEL_GEN_NORMAL, MODEL_GEN_NORM_WEIGHT, MODEL_GEN_BIAS };

struct model_gen_tensor {
	char name[64];
	uint32_t n_dims;
	uint64_t ne[4]; /* GGUF order; unused dimensions 1 */
	uint32_t type;
	enum model_gen_init init; /* the generator's distribution */
	float std;                /* MODEL_GEN_NORMAL */
};

struct model_gen_layout {
	GArray *kvs;     /* struct model_gen_kv, file order */
	GArray *tensors; /* struct model_gen_tensor, file order */
	/* what the kvs point into */
	char name[64];
	int32_t kv_heads[64];
	GPtrArray *tokens, *merges; /* char * */
	GArray *token_types;        /* int32_t */
};

/* The LM (lm) or mmproj file of shape s with main weights of type `type`
 * (one model_gen_parse_type accepts; the others follow the type rules of
 * spec §2.9). with_vocab adds the trained tokenizer vocabulary (tokens,
 * token_type, merges; needs vocab > 757). -EINVAL for another type or more
 * than 64 layers. */
int model_gen_layout_create(const struct model_gen_shape *s, bool lm, uint32_t type,
			    bool with_vocab, struct model_gen_layout **out);
void model_gen_layout_destroy(struct model_gen_layout *l);

/* "F32" → TENSOR_F32 etc.; the types a whole file may have (F32, F16, BF16,
 * Q8_0, Q4_0, Q4_1, Q5_0, Q5_1). -EINVAL otherwise. */
int model_gen_parse_type(const char *s, uint32_t *type);
bool model_gen_preset_known(const char *preset);

/* Write the file; on failure nothing is left at path. */
int model_gen_write_lm(const struct model_gen_options *o, const char *path);
int model_gen_write_mmproj(const struct model_gen_options *o, const char *path);

/* The floats behind tensor `name` of a preset before any conversion:
 * elements [first, first + n) in GGUF element order. -ENOENT for an
 * unknown tensor, -EINVAL for a range past its end. */
int model_gen_values(const char *preset, uint64_t seed, const char *name, uint64_t first,
		     float *out, uint64_t n);

#endif
