/* tests/tools/model-gen.h — deterministic random LFM2-VL test models (the
 * generator behind tests/tools/make-model; the contract is in
 * /work/tiny-and-goldens.md, the layout in spec §1.5-§1.8).
 *
 * Every tensor's floats come from its own random stream, seeded from a hash
 * of its name and the seed, so adding a tensor changes no other and the
 * chosen types do not change the floats behind any tensor.
 */
#ifndef CAPTIOND_TESTS_MODEL_GEN_H
#define CAPTIOND_TESTS_MODEL_GEN_H

#include <stdbool.h>
#include <stdint.h>

struct model_gen_options {
	const char *preset; /* "tiny", "450m", "1.6b" */
	uint32_t lm_type;   /* main weight type of the LM file */
	uint32_t mm_type;   /* main weight type of the mmproj file */
	uint64_t seed;
	bool verbose;       /* list tensors on stderr */
};

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
