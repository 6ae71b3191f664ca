/* tests/gguf-bytes.h — build GGUF files byte by byte in memory for tests,
 * the fuzz seed corpus and hparams checks.
 *
 * Two levels: raw writers (gw_*) append one field at a time so a test can
 * make any malformed file and note the offset of the field it breaks; a
 * builder (gb_*) collects KVs and tensors and lays out a valid file (padding,
 * aligned offsets, zero-filled or caller-filled data) in the spec §1.1 layout.
 */
#ifndef CAPTIOND_TESTS_GGUF_BYTES_H
#define CAPTIOND_TESTS_GGUF_BYTES_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "tests/tools/model-gen.h"

/* Raw fields, little-endian. */
void gw_u8(GByteArray *b, uint8_t v);
void gw_u16(GByteArray *b, uint16_t v);
void gw_u32(GByteArray *b, uint32_t v);
void gw_u64(GByteArray *b, uint64_t v);
void gw_f32(GByteArray *b, float v);
void gw_str(GByteArray *b, const char *s); /* u64 length + bytes */
void gw_bytes(GByteArray *b, const void *p, size_t n);
void gw_header(GByteArray *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv);
void gw_pad(GByteArray *b, uint32_t alignment);
/* A tensor info; ne has n_dims entries. */
void gw_tensor_info(GByteArray *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t offset);

/* Builder of a valid file. */
struct gguf_builder;
struct gguf_builder *gb_new(uint32_t version);
void gb_free(struct gguf_builder *gb);
void gb_kv_u32(struct gguf_builder *gb, const char *key, uint32_t v);
void gb_kv_i32(struct gguf_builder *gb, const char *key, int32_t v);
void gb_kv_u64(struct gguf_builder *gb, const char *key, uint64_t v);
void gb_kv_f32(struct gguf_builder *gb, const char *key, float v);
void gb_kv_bool(struct gguf_builder *gb, const char *key, bool v);
void gb_kv_str(struct gguf_builder *gb, const char *key, const char *v);
void gb_kv_arr_i32(struct gguf_builder *gb, const char *key, uint64_t n, const int32_t *v);
void gb_kv_arr_f32(struct gguf_builder *gb, const char *key, uint64_t n, const float *v);
void gb_kv_arr_str(struct gguf_builder *gb, const char *key, uint64_t n, const char *const *v);
/* value_type + raw value bytes. */
void gb_kv_raw(struct gguf_builder *gb, const char *key, uint32_t type, const void *value, size_t n);
/* Remove a key added before (to make a file without it). */
void gb_kv_remove(struct gguf_builder *gb, const char *key);
/* A tensor of the given shape (n_dims entries of ne), data bytes zero, or
 * filled with a byte pattern from the name when pattern is true. */
void gb_tensor(struct gguf_builder *gb, const char *name, uint32_t type, uint32_t n_dims, const uint64_t *ne, bool pattern);
void gb_tensor_remove(struct gguf_builder *gb, const char *name);
/* Change the type/shape of a tensor added before. */
void gb_tensor_reshape(struct gguf_builder *gb, const char *name, uint32_t type, uint32_t n_dims, const uint64_t *ne);
/* Lay the file out with the given alignment (written as general.alignment
 * when not 32). The caller frees the result with g_byte_array_unref(). */
GByteArray *gb_finish(struct gguf_builder *gb, uint32_t alignment);

/* A v2 or v3 file with a key of every value type (keys "u8", "i8", "u16",
 * "i16", "u32", "i32", "u64", "u64huge", "i64", "f32", "f64", "bool", "str",
 * "arr.i32", "arr.f32", "arr.str", "arr.empty", "arr.u64") and tensors "w"
 * (Q8_0 [64, 3]), "norm" (F32 [7]), "empty" (F16 [0, 4]), "four" (Q4_0
 * [32, 2, 2, 2]), alignment 32. */
GByteArray *gw_typed_example(uint32_t version);

/* The LM (lm) or mmproj file of shape s in the layout of
 * tests/tools/model-gen.h (spec §1.5-§1.8), main weights of type `type`,
 * without the tokenizer vocabulary; tensor data zero. */
struct gguf_builder *gb_lfm2(const struct model_gen_shape *s, bool lm, uint32_t type);

#endif
