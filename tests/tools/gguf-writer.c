/* tests/tools/gguf-writer.c — GGUF v3 writer (see gguf-writer.h). KVs are
 * serialized into one byte buffer as they are added; tensor infos are kept
 * until the header is written. */
#include "tests/tools/gguf-writer.h"

#include <errno.h>
#include <glib.h>
#include <string.h>

#include "model/quant.h"

#define ALIGNMENT GGUF_DEFAULT_ALIGNMENT

struct tensor_info {
	char *name;
	uint32_t n_dims;
	uint64_t ne[GGUF_MAX_DIMS];
	uint32_t type;
	uint64_t bytes;  /* payload size */
	uint64_t offset; /* relative to the data section */
};

struct gguf_writer {
	GByteArray *kv;         /* serialized key-value pairs */
	uint64_t n_kv;
	GHashTable *keys;       /* set of keys, to refuse duplicates */
	GArray *tensors;        /* struct tensor_info */
	GHashTable *names;      /* set of tensor names */
	uint64_t data_size;     /* padded payload bytes so far */
	uint64_t next_tensor;   /* tensor whose payload comes next */
	bool header_written;
	bool in_tensor;         /* between _tensor_begin and _tensor_end */
	uint64_t part_bytes;    /* bytes of the current tensor written so far */
};

struct gguf_writer *gguf_writer_create(void)
{
	struct gguf_writer *w = g_new0(struct gguf_writer, 1);
	w->kv = g_byte_array_new();
	w->keys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	w->tensors = g_array_new(FALSE, TRUE, sizeof(struct tensor_info));
	w->names = g_hash_table_new(g_str_hash, g_str_equal);
	return w;
}

void gguf_writer_destroy(struct gguf_writer *w)
{
	if (!w)
		return;
	for (guint i = 0; i < w->tensors->len; i++)
		g_free(g_array_index(w->tensors, struct tensor_info, i).name);
	g_array_free(w->tensors, TRUE);
	g_hash_table_destroy(w->names);
	g_hash_table_destroy(w->keys);
	g_byte_array_free(w->kv, TRUE);
	g_free(w);
}

/* GGUF is little-endian, as are the hosts this tool is built for, so
 * values are appended as raw bytes. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf-writer assumes a little-endian host"
#endif
static void put(GByteArray *b, const void *p, size_t n)
{
	g_byte_array_append(b, p, (guint)n);
}

static void put_u32(GByteArray *b, uint32_t v)
{
	put(b, &v, 4);
}

static void put_u64(GByteArray *b, uint64_t v)
{
	put(b, &v, 8);
}

static void put_str(GByteArray *b, const char *s)
{
	uint64_t n = strlen(s);
	put_u64(b, n);
	put(b, s, n);
}

/* Start a KV: key and value type. Refuses a repeated key. */
static int kv_begin(struct gguf_writer *w, const char *key, enum gguf_value_type type)
{
	if (w->header_written || !key || !*key)
		return -EINVAL;
	if (g_hash_table_contains(w->keys, key))
		return -EEXIST;
	g_hash_table_add(w->keys, g_strdup(key));
	put_str(w->kv, key);
	put_u32(w->kv, (uint32_t)type);
	w->n_kv++;
	return 0;
}

static int kv_scalar(struct gguf_writer *w, const char *key, enum gguf_value_type type,
		     const void *v, size_t size)
{
	int rc = kv_begin(w, key, type);
	if (rc == 0)
		put(w->kv, v, size);
	return rc;
}

int gguf_writer_add_u8(struct gguf_writer *w, const char *key, uint8_t v)
{
	return kv_scalar(w, key, GGUF_TYPE_UINT8, &v, 1);
}

int gguf_writer_add_i8(struct gguf_writer *w, const char *key, int8_t v)
{
	return kv_scalar(w, key, GGUF_TYPE_INT8, &v, 1);
}

int gguf_writer_add_u16(struct gguf_writer *w, const char *key, uint16_t v)
{
	return kv_scalar(w, key, GGUF_TYPE_UINT16, &v, 2);
}

int gguf_writer_add_i16(struct gguf_writer *w, const char *key, int16_t v)
{
	return kv_scalar(w, key, GGUF_TYPE_INT16, &v, 2);
}

int gguf_writer_add_u32(struct gguf_writer *w, const char *key, uint32_t v)
{
	return kv_scalar(w, key, GGUF_TYPE_UINT32, &v, 4);
}

int gguf_writer_add_i32(struct gguf_writer *w, const char *key, int32_t v)
{
	return kv_scalar(w, key, GGUF_TYPE_INT32, &v, 4);
}

int gguf_writer_add_u64(struct gguf_writer *w, const char *key, uint64_t v)
{
	return kv_scalar(w, key, GGUF_TYPE_UINT64, &v, 8);
}

int gguf_writer_add_i64(struct gguf_writer *w, const char *key, int64_t v)
{
	return kv_scalar(w, key, GGUF_TYPE_INT64, &v, 8);
}

int gguf_writer_add_f32(struct gguf_writer *w, const char *key, float v)
{
	return kv_scalar(w, key, GGUF_TYPE_FLOAT32, &v, 4);
}

int gguf_writer_add_f64(struct gguf_writer *w, const char *key, double v)
{
	return kv_scalar(w, key, GGUF_TYPE_FLOAT64, &v, 8);
}

int gguf_writer_add_bool(struct gguf_writer *w, const char *key, bool v)
{
	uint8_t b = v ? 1 : 0;
	return kv_scalar(w, key, GGUF_TYPE_BOOL, &b, 1);
}

int gguf_writer_add_str(struct gguf_writer *w, const char *key, const char *v)
{
	if (!v)
		return -EINVAL;
	int rc = kv_begin(w, key, GGUF_TYPE_STRING);
	if (rc == 0)
		put_str(w->kv, v);
	return rc;
}

static size_t scalar_size(enum gguf_value_type type)
{
	switch (type) {
	case GGUF_TYPE_UINT8:
	case GGUF_TYPE_INT8:
	case GGUF_TYPE_BOOL:
		return 1;
	case GGUF_TYPE_UINT16:
	case GGUF_TYPE_INT16:
		return 2;
	case GGUF_TYPE_UINT32:
	case GGUF_TYPE_INT32:
	case GGUF_TYPE_FLOAT32:
		return 4;
	case GGUF_TYPE_UINT64:
	case GGUF_TYPE_INT64:
	case GGUF_TYPE_FLOAT64:
		return 8;
	default:
		return 0;
	}
}

int gguf_writer_add_array(struct gguf_writer *w, const char *key, enum gguf_value_type type,
			  const void *elems, uint64_t count)
{
	size_t size = scalar_size(type);
	if (size == 0 || (count && !elems) || count > G_MAXUINT / size)
		return -EINVAL;
	int rc = kv_begin(w, key, GGUF_TYPE_ARRAY);
	if (rc)
		return rc;
	put_u32(w->kv, (uint32_t)type);
	put_u64(w->kv, count);
	put(w->kv, elems, (size_t)count * size);
	return 0;
}

int gguf_writer_add_str_array(struct gguf_writer *w, const char *key, const char *const *v,
			      uint64_t count)
{
	if (count && !v)
		return -EINVAL;
	for (uint64_t i = 0; i < count; i++)
		if (!v[i])
			return -EINVAL;
	int rc = kv_begin(w, key, GGUF_TYPE_ARRAY);
	if (rc)
		return rc;
	put_u32(w->kv, GGUF_TYPE_STRING);
	put_u64(w->kv, count);
	for (uint64_t i = 0; i < count; i++)
		put_str(w->kv, v[i]);
	return 0;
}

static uint64_t pad_to(uint64_t n, uint64_t align)
{
	return (n + align - 1) / align * align;
}

int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t n_dims,
			   const uint64_t *ne, uint32_t type)
{
	if (w->header_written || !name || !*name || n_dims < 1 || n_dims > GGUF_MAX_DIMS)
		return -EINVAL;
	if (g_hash_table_contains(w->names, name))
		return -EEXIST;
	struct tensor_info t = { .n_dims = n_dims, .type = type, .offset = w->data_size };
	uint64_t rows = 1;
	for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
		t.ne[d] = d < n_dims ? ne[d] : 1;
		if (t.ne[d] == 0 || t.ne[d] > INT64_MAX)
			return -EINVAL;
		if (d > 0) {
			if (rows > UINT64_MAX / t.ne[d])
				return -EINVAL;
			rows *= t.ne[d];
		}
	}
	uint64_t row_bytes;
	if (tensor_row_bytes(type, t.ne[0], &row_bytes) < 0 || row_bytes > UINT64_MAX / rows)
		return -EINVAL;
	t.bytes = row_bytes * rows;
	if (t.bytes > UINT64_MAX - ALIGNMENT - w->data_size)
		return -EINVAL;
	t.name = g_strdup(name);
	g_array_append_val(w->tensors, t);
	g_hash_table_add(w->names, t.name);
	w->data_size += pad_to(t.bytes, ALIGNMENT);
	return 0;
}

uint64_t gguf_writer_tensor_bytes(const struct gguf_writer *w, uint64_t i)
{
	if (i >= w->tensors->len)
		return 0;
	return g_array_index(w->tensors, struct tensor_info, i).bytes;
}

static int write_all(FILE *fp, const void *p, uint64_t n)
{
	return n == 0 || fwrite(p, 1, n, fp) == n ? 0 : -EIO;
}

static int write_zeros(FILE *fp, uint64_t n)
{
	static const uint8_t zeros[ALIGNMENT];
	return write_all(fp, zeros, n);
}

int gguf_writer_write_header(struct gguf_writer *w, FILE *fp)
{
	if (w->header_written)
		return -EINVAL;
	GByteArray *h = g_byte_array_new();
	put(h, "GGUF", 4);
	put_u32(h, 3);
	put_u64(h, w->tensors->len);
	put_u64(h, w->n_kv);
	put(h, w->kv->data, w->kv->len);
	for (guint i = 0; i < w->tensors->len; i++) {
		const struct tensor_info *t = &g_array_index(w->tensors, struct tensor_info, i);
		put_str(h, t->name);
		put_u32(h, t->n_dims);
		for (uint32_t d = 0; d < t->n_dims; d++)
			put_u64(h, t->ne[d]);
		put_u32(h, t->type);
		put_u64(h, t->offset);
	}
	uint64_t len = h->len;
	int rc = write_all(fp, h->data, len);
	if (rc == 0)
		rc = write_zeros(fp, pad_to(len, ALIGNMENT) - len);
	g_byte_array_free(h, TRUE);
	if (rc == 0)
		w->header_written = true;
	return rc;
}

int gguf_writer_tensor_begin(struct gguf_writer *w, uint64_t i)
{
	if (!w->header_written || w->in_tensor || i != w->next_tensor || i >= w->tensors->len)
		return -EINVAL;
	w->in_tensor = true;
	w->part_bytes = 0;
	return 0;
}

int gguf_writer_tensor_part(struct gguf_writer *w, FILE *fp, const void *data, uint64_t bytes)
{
	if (!w->in_tensor)
		return -EINVAL;
	const struct tensor_info *t = &g_array_index(w->tensors, struct tensor_info, w->next_tensor);
	if (bytes > t->bytes - w->part_bytes)
		return -EINVAL;
	w->part_bytes += bytes;
	return write_all(fp, data, bytes);
}

int gguf_writer_tensor_end(struct gguf_writer *w, FILE *fp)
{
	if (!w->in_tensor)
		return -EINVAL;
	const struct tensor_info *t = &g_array_index(w->tensors, struct tensor_info, w->next_tensor);
	if (w->part_bytes != t->bytes)
		return -EINVAL;
	w->in_tensor = false;
	w->next_tensor++;
	return write_zeros(fp, pad_to(t->bytes, ALIGNMENT) - t->bytes);
}

int gguf_writer_write_tensor(struct gguf_writer *w, FILE *fp, uint64_t i, const void *data)
{
	int rc = gguf_writer_tensor_begin(w, i);
	if (rc == 0)
		rc = gguf_writer_tensor_part(w, fp, data, gguf_writer_tensor_bytes(w, i));
	if (rc == 0)
		rc = gguf_writer_tensor_end(w, fp);
	return rc;
}
