/* tests/tools/gguf-writer.h — a small GGUF v3 writer for test models.
 *
 * Collect the key-value pairs and the tensor infos first, then write the
 * header with gguf_writer_write_header() and each tensor's payload, in the
 * order the tensors were added, with gguf_writer_write_tensor(). Payloads
 * stream straight to the FILE, so a file larger than memory can be written.
 * Layout (spec §1.1-§1.3): alignment 32, every payload padded to 32, tensor
 * offsets the running sum of padded sizes, first offset 0.
 *
 * Errors: 0 or a negative errno (-EEXIST duplicate key or tensor name,
 * -EINVAL bad shape/type/order, -EIO write failure, -ENOMEM).
 */
#ifndef CAPTIOND_TESTS_TOOLS_GGUF_WRITER_H
#define CAPTIOND_TESTS_TOOLS_GGUF_WRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "model/gguf.h"

struct gguf_writer;

struct gguf_writer *gguf_writer_create(void);
void gguf_writer_destroy(struct gguf_writer *w);

/* Scalars. key and string values are copied. */
int gguf_writer_add_u8(struct gguf_writer *w, const char *key, uint8_t v);
int gguf_writer_add_i8(struct gguf_writer *w, const char *key, int8_t v);
int gguf_writer_add_u16(struct gguf_writer *w, const char *key, uint16_t v);
int gguf_writer_add_i16(struct gguf_writer *w, const char *key, int16_t v);
int gguf_writer_add_u32(struct gguf_writer *w, const char *key, uint32_t v);
int gguf_writer_add_i32(struct gguf_writer *w, const char *key, int32_t v);
int gguf_writer_add_u64(struct gguf_writer *w, const char *key, uint64_t v);
int gguf_writer_add_i64(struct gguf_writer *w, const char *key, int64_t v);
int gguf_writer_add_f32(struct gguf_writer *w, const char *key, float v);
int gguf_writer_add_f64(struct gguf_writer *w, const char *key, double v);
int gguf_writer_add_bool(struct gguf_writer *w, const char *key, bool v);
int gguf_writer_add_str(struct gguf_writer *w, const char *key, const char *v);

/* An array of count fixed-size elements of type (not STRING/ARRAY), given
 * as a C array of that type (host order = little-endian). */
int gguf_writer_add_array(struct gguf_writer *w, const char *key, enum gguf_value_type type,
			  const void *elems, uint64_t count);
/* An array of count NUL-terminated strings. */
int gguf_writer_add_str_array(struct gguf_writer *w, const char *key, const char *const *v,
			      uint64_t count);

/* A tensor info: n_dims 1..4, ne in GGUF order (ne[0] contiguous), type a
 * model/quant.h id whose block size divides ne[0]. */
int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t n_dims,
			   const uint64_t *ne, uint32_t type);
/* Bytes of tensor i's payload (before padding). */
uint64_t gguf_writer_tensor_bytes(const struct gguf_writer *w, uint64_t i);

int gguf_writer_write_header(struct gguf_writer *w, FILE *fp);
/* The payload of the next tensor (tensor i, in add order): its exact byte
 * size, then zero padding to the alignment. */
int gguf_writer_write_tensor(struct gguf_writer *w, FILE *fp, uint64_t i, const void *data);
/* Several calls may write one tensor's payload piece by piece: begin with
 * _tensor_begin(i), append with _tensor_part(), close with _tensor_end()
 * (checks the total and pads). */
int gguf_writer_tensor_begin(struct gguf_writer *w, uint64_t i);
int gguf_writer_tensor_part(struct gguf_writer *w, FILE *fp, const void *data, uint64_t bytes);
int gguf_writer_tensor_end(struct gguf_writer *w, FILE *fp);

#endif
