/* model/gguf.h — a validated, read-only view of a GGUF file (v2 and v3).
 *
 * A GGUF file comes from the internet: it is the daemon's first attack
 * surface. gguf_file_open() maps the file and validates every count, length,
 * type, name, shape, offset and size against what is really there before
 * anything is handed out; nothing is allocated from an untrusted number that
 * was not first checked against the bytes that back it. After a successful
 * open every accessor is O(1) or O(log n) and cannot fail on malformed data.
 *
 * Ownership: the gguf_file owns the mapping; every pointer returned by an
 * accessor (names, strings, tensor data) stays valid until gguf_file_destroy().
 * Threads: a gguf_file is immutable after open; any thread may read it.
 * Errors: 0 or a negative errno. -EBADMSG: malformed file (struct gguf_error
 * says where and what); -ENOENT: missing key or tensor; -EMEDIUMTYPE: a key
 * holds another type; -ERANGE: an integer value does not fit the asked type;
 * -ENOMEM; other -errno from open/fstat/mmap.
 */
#ifndef CAPTIOND_MODEL_GGUF_H
#define CAPTIOND_MODEL_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum gguf_value_type {
	GGUF_TYPE_UINT8 = 0,
	GGUF_TYPE_INT8 = 1,
	GGUF_TYPE_UINT16 = 2,
	GGUF_TYPE_INT16 = 3,
	GGUF_TYPE_UINT32 = 4,
	GGUF_TYPE_INT32 = 5,
	GGUF_TYPE_FLOAT32 = 6,
	GGUF_TYPE_BOOL = 7,
	GGUF_TYPE_STRING = 8,
	GGUF_TYPE_ARRAY = 9,
	GGUF_TYPE_UINT64 = 10,
	GGUF_TYPE_INT64 = 11,
	GGUF_TYPE_FLOAT64 = 12,
};

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

/* Where and why a file was rejected. message is one line without the file
 * name, e.g. "tensor 'blk.0.attn_q.weight': data [4096, 8192) ends past the
 * end of the file (6000 bytes)"; gguf_error_format() adds file and offset. */
struct gguf_error {
	uint64_t offset; /* byte offset in the file where the problem was found */
	char message[256];
};

/* "FILE: byte OFFSET: MESSAGE" into buf (always NUL-terminated). */
void gguf_error_format(const struct gguf_error *err, const char *file, char *buf, size_t size);

/* A string inside the mapping: not NUL-terminated. */
struct gguf_str {
	const char *ptr;
	uint64_t len;
};

struct gguf_array {
	enum gguf_value_type type; /* element type; never GGUF_TYPE_ARRAY (nested arrays are rejected) */
	uint64_t count;
	const void *data; /* packed little-endian elements; for strings use gguf_array_string() */
	const void *priv; /* reader's index for string arrays */
};

struct gguf_tensor {
	const char *name;        /* NUL-terminated, owned by the gguf_file */
	uint32_t n_dims;         /* 1..4 */
	uint64_t ne[GGUF_MAX_DIMS]; /* GGUF order: ne[0] contiguous; unused dims are 1 */
	uint32_t type;           /* enum tensor_type (model/quant.h), validated known */
	uint64_t offset;         /* relative to the data section */
	uint64_t n_elements;
	uint64_t n_bytes;
	const void *data;        /* inside the mapping (or buffer), at a file offset that is a multiple of the alignment */
};

struct gguf_file;

/* Map and validate path. On failure *out is NULL and err (may be NULL) says why. */
int gguf_file_open(const char *path, struct gguf_file **out, struct gguf_error *err);
/* Validate a buffer the caller keeps alive for the life of the gguf_file (fuzzing, tests). */
int gguf_file_open_memory(const void *data, size_t size, struct gguf_file **out, struct gguf_error *err);
void gguf_file_destroy(struct gguf_file *f);

uint32_t gguf_version(const struct gguf_file *f);
uint32_t gguf_alignment(const struct gguf_file *f);
/* Start of the data section: the end of the tensor infos rounded up to the
 * alignment; past the end of a file without tensors that omits the padding. */
uint64_t gguf_data_offset(const struct gguf_file *f);
uint64_t gguf_file_size(const struct gguf_file *f);

/* Key-value pairs, in file order. */
uint64_t gguf_kv_count(const struct gguf_file *f);
struct gguf_str gguf_kv_key(const struct gguf_file *f, uint64_t i);
enum gguf_value_type gguf_kv_type(const struct gguf_file *f, uint64_t i);
/* Index of key, or -1. */
int64_t gguf_find_key(const struct gguf_file *f, const char *key);

/* Typed getters. Integer getters accept any integer key type whose value fits
 * (spec §1.2: writers differ in width and signedness) and return -ERANGE when
 * it does not; a non-integer key gives -EMEDIUMTYPE. gguf_get_f32 accepts
 * FLOAT32 and FLOAT64. */
int gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *out);
int gguf_get_i32(const struct gguf_file *f, const char *key, int32_t *out);
int gguf_get_u64(const struct gguf_file *f, const char *key, uint64_t *out);
int gguf_get_f32(const struct gguf_file *f, const char *key, float *out);
int gguf_get_bool(const struct gguf_file *f, const char *key, bool *out);
int gguf_get_str(const struct gguf_file *f, const char *key, struct gguf_str *out);
int gguf_get_array(const struct gguf_file *f, const char *key, struct gguf_array *out);
/* By index, for listing every key (captionctl inspect). */
int gguf_kv_get_str(const struct gguf_file *f, uint64_t i, struct gguf_str *out);
int gguf_kv_get_array(const struct gguf_file *f, uint64_t i, struct gguf_array *out);

/* Elements of an array; i must be < count (asserted). The integer reader
 * widens any integer element type; gguf_array_int() returns -EMEDIUMTYPE for a
 * non-integer array. */
struct gguf_str gguf_array_string(const struct gguf_array *a, uint64_t i);
int gguf_array_int(const struct gguf_array *a, uint64_t i, int64_t *out);
float gguf_array_f32(const struct gguf_array *a, uint64_t i); /* FLOAT32 arrays only */

/* Tensors, in file order. */
uint64_t gguf_tensor_count(const struct gguf_file *f);
const struct gguf_tensor *gguf_tensor_at(const struct gguf_file *f, uint64_t i);
/* NULL when absent. */
const struct gguf_tensor *gguf_find_tensor(const struct gguf_file *f, const char *name);

#endif
