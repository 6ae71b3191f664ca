/* model/gguf.c — GGUF v2/v3 reader: map, validate everything, then serve
 * O(1) accessors (spec §1.1-§1.3).
 *
 * Validation rules beyond the spec, chosen to match what llama.cpp loads:
 *  - tensor names are 1..63 bytes (ggml's GGML_MAX_NAME is 64 with the NUL),
 *    without NUL bytes, unique; keys are non-empty, without NUL bytes, unique;
 *  - a dimension may be 0 (llama.cpp accepts ne >= 0; such a tensor has no
 *    data), never negative; n_dims is 1..4;
 *  - tensor data must be aligned, inside the file and must not overlap other
 *    tensors' data; the order of the data need not follow the info order;
 *  - BOOL values must be 0 or 1.
 * The reader never allocates more than a small multiple of the bytes it has
 * already checked: counts are bounded by the bytes left before any use.
 */
#include "model/gguf.h"

#include "model/quant.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_MAX_NAME 63 /* bytes of a tensor name, as ggml */
#define GGUF_HEADER_BYTES 24
#define GGUF_MIN_KV_BYTES 12      /* key length + value type, empty key */
#define GGUF_MIN_TENSOR_BYTES 32  /* name length + n_dims + ne0 + type + offset */

struct gguf_kv {
	struct gguf_str key;
	enum gguf_value_type type;
	uint64_t value_offset;      /* file offset of the value (for errors) */
	const uint8_t *value;       /* scalar bytes */
	struct gguf_str str;        /* STRING */
	struct gguf_array arr;      /* ARRAY */
};

struct gguf_file {
	const uint8_t *base;
	uint64_t size;
	void *map; /* NULL for gguf_file_open_memory() */
	uint32_t version;
	uint32_t alignment;
	uint64_t data_offset;
	GArray *kvs;        /* struct gguf_kv */
	GArray *tensors;    /* struct gguf_tensor */
	GHashTable *keys;   /* NUL-terminated key copy -> index + 1 */
	GHashTable *names;  /* tensor name (owned by tensors) -> index + 1 */
};

/* Parsing state: the bytes, the read position and where errors go. */
struct cursor {
	const uint8_t *base;
	uint64_t size;
	uint64_t pos;
	struct gguf_error *err;
};

static const char *const value_type_names[] = {
	"UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
	"BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64",
};
/* Bytes of one element; 0 for STRING and ARRAY. */
static const uint8_t value_type_size[] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

static bool is_int_type(enum gguf_value_type t)
{
	return t <= GGUF_TYPE_INT32 || t == GGUF_TYPE_UINT64 || t == GGUF_TYPE_INT64;
}

static int fail(struct cursor *c, uint64_t offset, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static int fail(struct cursor *c, uint64_t offset, const char *fmt, ...)
{
	if (c->err) {
		va_list ap;
		va_start(ap, fmt);
		c->err->offset = offset;
		vsnprintf(c->err->message, sizeof c->err->message, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

static uint64_t left(const struct cursor *c) { return c->size - c->pos; }

static int need(struct cursor *c, uint64_t n, const char *what, const char *name)
{
	if (left(c) >= n)
		return 0;
	return fail(c, c->pos, "truncated: %s%s%s%s needs %" PRIu64 " bytes, %" PRIu64 " left",
		    what, name ? " '" : "", name ? name : "", name ? "'" : "", n, left(c));
}

/* A name from the file, printable in a one-line message: non-printable bytes
 * become \xNN and long names are cut. */
static const char *quote(char out[96], const char *p, uint64_t len)
{
	size_t o = 0;
	for (uint64_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (o + 8 >= 96) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (ch >= 0x20 && ch < 0x7f && ch != '\'' && ch != '\\')
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, 96 - o, "\\x%02x", ch);
	}
	out[o] = '\0';
	return out;
}

/* A string: u64 length + bytes. what names it for errors. */
static int read_str(struct cursor *c, struct gguf_str *s, const char *what, const char *name)
{
	int r = need(c, 8, what, name);
	if (r)
		return r;
	uint64_t at = c->pos;
	uint64_t len = le64(c->base + c->pos);
	c->pos += 8;
	if (len > left(c))
		return fail(c, at, "%s%s%s%s: length %" PRIu64 " exceeds the %" PRIu64 " bytes left",
			    what, name ? " '" : "", name ? name : "", name ? "'" : "", len, left(c));
	s->ptr = (const char *)c->base + c->pos;
	s->len = len;
	c->pos += len;
	return 0;
}

static int read_array(struct cursor *c, struct gguf_kv *kv, const char *qkey)
{
	int r = need(c, 12, "array header of key", qkey);
	if (r)
		return r;
	uint32_t et = le32(c->base + c->pos);
	if (et == GGUF_TYPE_ARRAY)
		return fail(c, c->pos, "key '%s': nested arrays are not supported", qkey);
	if (et > GGUF_TYPE_FLOAT64)
		return fail(c, c->pos, "key '%s': unknown array element type %" PRIu32, qkey, et);
	c->pos += 4;
	uint64_t count_at = c->pos;
	uint64_t count = le64(c->base + c->pos);
	c->pos += 8;
	uint64_t min_elem = et == GGUF_TYPE_STRING ? 8 : value_type_size[et];
	if (count > left(c) / min_elem)
		return fail(c, count_at, "key '%s': array of %" PRIu64 " %s elements cannot fit in the %" PRIu64 " bytes left",
			    qkey, count, value_type_names[et], left(c));
	kv->arr.type = (enum gguf_value_type)et;
	kv->arr.count = count;
	kv->arr.data = c->base + c->pos;
	kv->arr.priv = NULL;
	if (et == GGUF_TYPE_BOOL) {
		for (uint64_t i = 0; i < count; i++)
			if (c->base[c->pos + i] > 1)
				return fail(c, c->pos + i, "key '%s': element %" PRIu64 ": BOOL value %u is not 0 or 1",
					    qkey, i, c->base[c->pos + i]);
	}
	if (et != GGUF_TYPE_STRING) {
		c->pos += count * min_elem;
		return 0;
	}
	/* count <= bytes left / 8, so the index is at most twice those bytes. */
	struct gguf_str *strs = count ? g_try_new(struct gguf_str, count) : NULL;
	if (count && !strs)
		return -ENOMEM;
	for (uint64_t i = 0; i < count; i++) {
		if (left(c) < 8) {
			g_free(strs);
			return fail(c, c->pos, "truncated: key '%s': element %" PRIu64 " needs 8 bytes, %" PRIu64 " left",
				    qkey, i, left(c));
		}
		uint64_t len = le64(c->base + c->pos);
		if (len > left(c) - 8) {
			g_free(strs);
			return fail(c, c->pos, "key '%s': element %" PRIu64 ": string length %" PRIu64 " exceeds the %" PRIu64 " bytes left",
				    qkey, i, len, left(c) - 8);
		}
		strs[i].ptr = (const char *)c->base + c->pos + 8;
		strs[i].len = len;
		c->pos += 8 + len;
	}
	kv->arr.priv = strs;
	return 0;
}

static int read_kv(struct cursor *c, struct gguf_file *f, uint64_t i)
{
	struct gguf_kv kv = { 0 };
	char qkey[96];
	uint64_t key_at = c->pos;
	char what[40];
	snprintf(what, sizeof what, "key of KV %" PRIu64, i);
	int r = read_str(c, &kv.key, what, NULL);
	if (r)
		return r;
	if (kv.key.len == 0)
		return fail(c, key_at, "KV %" PRIu64 ": empty key", i);
	if (memchr(kv.key.ptr, 0, kv.key.len))
		return fail(c, key_at, "KV %" PRIu64 ": key '%s' contains a NUL byte", i,
			    quote(qkey, kv.key.ptr, kv.key.len));
	quote(qkey, kv.key.ptr, kv.key.len);
	char *key = g_strndup(kv.key.ptr, kv.key.len);
	gpointer first = g_hash_table_lookup(f->keys, key);
	if (first) {
		g_free(key);
		return fail(c, key_at, "duplicate key '%s' (also KV %" PRIu64 ")", qkey,
			    (uint64_t)GPOINTER_TO_SIZE(first) - 1);
	}
	g_hash_table_insert(f->keys, key, GSIZE_TO_POINTER((gsize)i + 1));

	r = need(c, 4, "value type of key", qkey);
	if (r)
		return r;
	uint32_t type = le32(c->base + c->pos);
	if (type > GGUF_TYPE_FLOAT64)
		return fail(c, c->pos, "key '%s': unknown value type %" PRIu32, qkey, type);
	c->pos += 4;
	kv.type = (enum gguf_value_type)type;
	kv.value_offset = c->pos;
	kv.value = c->base + c->pos;
	if (type == GGUF_TYPE_STRING) {
		r = read_str(c, &kv.str, "string value of key", qkey);
	} else if (type == GGUF_TYPE_ARRAY) {
		r = read_array(c, &kv, qkey);
	} else {
		r = need(c, value_type_size[type], "value of key", qkey);
		if (!r && type == GGUF_TYPE_BOOL && *kv.value > 1)
			r = fail(c, c->pos, "key '%s': BOOL value %u is not 0 or 1", qkey, *kv.value);
		if (!r)
			c->pos += value_type_size[type];
	}
	if (r)
		return r;
	g_array_append_val(f->kvs, kv);
	return 0;
}

static int read_alignment(struct cursor *c, struct gguf_file *f)
{
	f->alignment = GGUF_DEFAULT_ALIGNMENT;
	int64_t i = gguf_find_key(f, "general.alignment");
	if (i < 0)
		return 0;
	const struct gguf_kv *kv = &g_array_index(f->kvs, struct gguf_kv, i);
	if (kv->type != GGUF_TYPE_UINT32)
		return fail(c, kv->value_offset - 4, "general.alignment has type %s, expected UINT32",
			    value_type_names[kv->type]);
	uint32_t a = le32(kv->value);
	if (a == 0 || (a & (a - 1)))
		return fail(c, kv->value_offset, "general.alignment %" PRIu32 " is not a power of two", a);
	f->alignment = a;
	return 0;
}

/* Tensor info i; offset_at receives where its offset field is, for later errors. */
static int read_tensor_info(struct cursor *c, struct gguf_file *f, uint64_t i, uint64_t *offset_at)
{
	struct gguf_tensor t = { 0 };
	struct gguf_str name;
	char q[96];
	char what[48];
	uint64_t name_at = c->pos;
	snprintf(what, sizeof what, "name of tensor %" PRIu64, i);
	int r = read_str(c, &name, what, NULL);
	if (r)
		return r;
	if (name.len == 0)
		return fail(c, name_at, "tensor %" PRIu64 ": empty name", i);
	if (name.len > GGUF_MAX_NAME)
		return fail(c, name_at, "tensor %" PRIu64 ": name is %" PRIu64 " bytes long, at most %d are allowed",
			    i, name.len, GGUF_MAX_NAME);
	if (memchr(name.ptr, 0, name.len))
		return fail(c, name_at, "tensor %" PRIu64 ": name '%s' contains a NUL byte", i,
			    quote(q, name.ptr, name.len));
	quote(q, name.ptr, name.len);
	char *cname = g_strndup(name.ptr, name.len);
	gpointer first = g_hash_table_lookup(f->names, cname);
	if (first) {
		g_free(cname);
		return fail(c, name_at, "duplicate tensor name '%s' (also tensor %" PRIu64 ")", q,
			    (uint64_t)GPOINTER_TO_SIZE(first) - 1);
	}
	t.name = cname;
	/* From here on t is in the array, so the name is freed with the file. */
	g_array_append_val(f->tensors, t);
	g_hash_table_insert(f->names, cname, GSIZE_TO_POINTER((gsize)i + 1));
	struct gguf_tensor *tp = &g_array_index(f->tensors, struct gguf_tensor, i);

	r = need(c, 4, "n_dims of tensor", q);
	if (r)
		return r;
	uint32_t n_dims = le32(c->base + c->pos);
	if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
		return fail(c, c->pos, "tensor '%s': n_dims %" PRIu32 " is not in 1..%d", q, n_dims, GGUF_MAX_DIMS);
	c->pos += 4;
	tp->n_dims = n_dims;
	r = need(c, 8 * (uint64_t)n_dims, "dimensions of tensor", q);
	if (r)
		return r;
	for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
		if (d >= n_dims) {
			tp->ne[d] = 1;
			continue;
		}
		uint64_t ne = le64(c->base + c->pos);
		if (ne > INT64_MAX)
			return fail(c, c->pos, "tensor '%s': ne[%" PRIu32 "] is negative (%" PRId64 ")", q, d,
				    (int64_t)(ne - INT64_MAX - 1) + INT64_MIN);
		tp->ne[d] = ne;
		c->pos += 8;
	}
	r = need(c, 4, "type of tensor", q);
	if (r)
		return r;
	uint32_t type = le32(c->base + c->pos);
	const struct tensor_type_info *info = tensor_type_info(type);
	if (!info)
		return fail(c, c->pos, "tensor '%s': unknown tensor type %" PRIu32, q, type);
	if (tp->ne[0] % info->block_elems)
		return fail(c, c->pos, "tensor '%s': ne[0] = %" PRIu64 " is not a multiple of the %s block size %" PRIu32,
			    q, tp->ne[0], info->name, info->block_elems);
	tp->type = type;
	uint64_t n = tp->ne[0], bytes = 0;
	for (int d = 1; d < GGUF_MAX_DIMS; d++) {
		if (tp->ne[d] && n > UINT64_MAX / tp->ne[d])
			return fail(c, c->pos, "tensor '%s': element count overflows 64 bits", q);
		n *= tp->ne[d];
	}
	/* ne0 % block_elems == 0 and block_bytes >= 2: rows of whole blocks. */
	if (tensor_row_bytes(type, tp->ne[0], &bytes))
		return fail(c, c->pos, "tensor '%s': byte size overflows 64 bits", q);
	for (int d = 1; d < GGUF_MAX_DIMS; d++) {
		if (tp->ne[d] && bytes > UINT64_MAX / tp->ne[d])
			return fail(c, c->pos, "tensor '%s': byte size overflows 64 bits", q);
		bytes *= tp->ne[d];
	}
	tp->n_elements = n;
	tp->n_bytes = bytes;
	c->pos += 4;
	r = need(c, 8, "data offset of tensor", q);
	if (r)
		return r;
	*offset_at = c->pos;
	tp->offset = le64(c->base + c->pos);
	c->pos += 8;
	return 0;
}

struct span {
	uint64_t start, end, info_at;
	uint64_t index;
};

static int span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start ? 1 : 0;
}

/* Place each tensor's data: aligned, inside the file, not overlapping. */
static int place_tensors(struct cursor *c, struct gguf_file *f, const uint64_t *offset_at)
{
	uint64_t n = f->tensors->len;
	if (!n)
		return 0;
	char q[96];
	struct span *spans = g_try_new(struct span, n);
	if (!spans)
		return -ENOMEM;
	int r = 0;
	uint64_t n_spans = 0;
	for (uint64_t i = 0; i < n && !r; i++) {
		struct gguf_tensor *t = &g_array_index(f->tensors, struct gguf_tensor, i);
		quote(q, t->name, strlen(t->name));
		if (t->offset % f->alignment) {
			r = fail(c, offset_at[i], "tensor '%s': data offset %" PRIu64 " is not a multiple of the alignment %" PRIu32,
				 q, t->offset, f->alignment);
		} else if (f->data_offset > f->size || t->offset > f->size - f->data_offset) {
			r = fail(c, offset_at[i], "tensor '%s': data offset %" PRIu64 " is past the end of the file (data section at %" PRIu64 ", file %" PRIu64 " bytes)",
				 q, t->offset, f->data_offset, f->size);
		} else {
			uint64_t start = f->data_offset + t->offset;
			if (t->n_bytes > f->size - start) {
				r = fail(c, offset_at[i], "tensor '%s': data [%" PRIu64 ", +%" PRIu64 ") ends past the end of the file (%" PRIu64 " bytes)",
					 q, start, t->n_bytes, f->size);
			} else {
				t->data = f->base + start;
				if (t->n_bytes)
					spans[n_spans++] = (struct span){ start, start + t->n_bytes, offset_at[i], i };
			}
		}
	}
	if (!r && n_spans > 1) {
		qsort(spans, n_spans, sizeof *spans, span_cmp);
		for (uint64_t i = 1; i < n_spans && !r; i++) {
			if (spans[i].start >= spans[i - 1].end)
				continue;
			/* Report the one that comes later in the file's info order. */
			struct span *a = &spans[i - 1], *b = &spans[i];
			if (a->index > b->index) {
				struct span *tmp = a;
				a = b;
				b = tmp;
			}
			const struct gguf_tensor *ta = gguf_tensor_at(f, a->index);
			const struct gguf_tensor *tb = gguf_tensor_at(f, b->index);
			char qa[96];
			r = fail(c, b->info_at, "tensor '%s': data [%" PRIu64 ", %" PRIu64 ") overlaps tensor '%s' [%" PRIu64 ", %" PRIu64 ")",
				 quote(q, tb->name, strlen(tb->name)), b->start, b->end,
				 quote(qa, ta->name, strlen(ta->name)), a->start, a->end);
		}
	}
	g_free(spans);
	return r;
}

static void kv_clear(gpointer p)
{
	struct gguf_kv *kv = p;
	g_free((void *)kv->arr.priv);
}

static void tensor_clear(gpointer p)
{
	struct gguf_tensor *t = p;
	g_free((char *)t->name);
}

static int parse(struct gguf_file *f, struct gguf_error *err)
{
	struct cursor c = { .base = f->base, .size = f->size, .pos = 0, .err = err };
	if (f->size == 0)
		return fail(&c, 0, "empty file");
	if (f->size < 4 || memcmp(f->base, "GGUF", 4)) {
		uint8_t m[4] = { 0 };
		memcpy(m, f->base, f->size < 4 ? f->size : 4);
		if (f->size < 4)
			return fail(&c, 0, "not a GGUF file: only %" PRIu64 " bytes", f->size);
		return fail(&c, 0, "not a GGUF file: magic %02x %02x %02x %02x, expected 47 47 55 46 (\"GGUF\")",
			    m[0], m[1], m[2], m[3]);
	}
	c.pos = 4;
	int r = need(&c, 4, "version", NULL);
	if (r)
		return r;
	f->version = le32(f->base + 4);
	if (f->version != 2 && f->version != 3) {
		uint32_t swapped = GUINT32_SWAP_LE_BE(f->version);
		return fail(&c, 4, "unsupported GGUF version %" PRIu32 "%s (this reader takes versions 2 and 3)",
			    f->version, swapped == 2 || swapped == 3 ? ", a big-endian file" : "");
	}
	c.pos = 8;
	r = need(&c, 16, "tensor and KV counts", NULL);
	if (r)
		return r;
	uint64_t n_tensors = le64(f->base + 8);
	uint64_t n_kv = le64(f->base + 16);
	c.pos = GGUF_HEADER_BYTES;
	uint64_t rest = left(&c);
	if (n_tensors > rest / GGUF_MIN_TENSOR_BYTES)
		return fail(&c, 8, "tensor count %" PRIu64 " cannot fit in the %" PRIu64 " bytes that follow the header",
			    n_tensors, rest);
	if (n_kv > rest / GGUF_MIN_KV_BYTES ||
	    n_kv * GGUF_MIN_KV_BYTES > rest - n_tensors * GGUF_MIN_TENSOR_BYTES)
		return fail(&c, 16, "KV count %" PRIu64 " and tensor count %" PRIu64 " cannot fit in the %" PRIu64 " bytes that follow the header",
			    n_kv, n_tensors, rest);

	for (uint64_t i = 0; i < n_kv; i++) {
		r = read_kv(&c, f, i);
		if (r)
			return r;
	}
	r = read_alignment(&c, f);
	if (r)
		return r;
	uint64_t *offset_at = n_tensors ? g_try_new(uint64_t, n_tensors) : NULL;
	if (n_tensors && !offset_at)
		return -ENOMEM;
	for (uint64_t i = 0; i < n_tensors && !r; i++)
		r = read_tensor_info(&c, f, i, &offset_at[i]);
	if (!r) {
		/* pos <= size < 2^63 and alignment <= 2^31: no overflow. */
		f->data_offset = (c.pos + f->alignment - 1) / f->alignment * f->alignment;
		r = place_tensors(&c, f, offset_at);
	}
	g_free(offset_at);
	return r;
}

static struct gguf_file *file_new(void)
{
	struct gguf_file *f = g_new0(struct gguf_file, 1);
	f->kvs = g_array_new(FALSE, TRUE, sizeof(struct gguf_kv));
	g_array_set_clear_func(f->kvs, kv_clear);
	f->tensors = g_array_new(FALSE, TRUE, sizeof(struct gguf_tensor));
	g_array_set_clear_func(f->tensors, tensor_clear);
	f->keys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	f->names = g_hash_table_new(g_str_hash, g_str_equal);
	return f;
}

void gguf_file_destroy(struct gguf_file *f)
{
	if (!f)
		return;
	if (f->names)
		g_hash_table_destroy(f->names);
	if (f->keys)
		g_hash_table_destroy(f->keys);
	if (f->tensors)
		g_array_free(f->tensors, TRUE);
	if (f->kvs)
		g_array_free(f->kvs, TRUE);
	if (f->map)
		munmap(f->map, (size_t)f->size);
	g_free(f);
}

static int open_buffer(struct gguf_file *f, struct gguf_file **out, struct gguf_error *err)
{
	int r = parse(f, err);
	if (r == -ENOMEM && err) {
		err->offset = 0;
		snprintf(err->message, sizeof err->message, "out of memory");
	}
	if (r) {
		gguf_file_destroy(f);
		return r;
	}
	*out = f;
	return 0;
}

int gguf_file_open_memory(const void *data, size_t size, struct gguf_file **out, struct gguf_error *err)
{
	*out = NULL;
	struct gguf_file *f = file_new();
	f->base = data;
	f->size = size;
	return open_buffer(f, out, err);
}

static int sys_fail(struct gguf_error *err, int e, const char *what)
{
	if (err) {
		err->offset = 0;
		snprintf(err->message, sizeof err->message, "%s: %s", what, g_strerror(e));
	}
	return -e;
}

int gguf_file_open(const char *path, struct gguf_file **out, struct gguf_error *err)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sys_fail(err, errno, "cannot open");
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return sys_fail(err, e, "cannot stat");
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return sys_fail(err, EINVAL, "not a regular file");
	}
	struct gguf_file *f = file_new();
	if (st.st_size > 0) {
		void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			int e = errno;
			close(fd);
			gguf_file_destroy(f);
			return sys_fail(err, e, "cannot map");
		}
		f->map = map;
		f->base = map;
		f->size = (uint64_t)st.st_size;
	} else {
		f->base = (const uint8_t *)"";
	}
	close(fd);
	return open_buffer(f, out, err);
}

void gguf_error_format(const struct gguf_error *err, const char *file, char *buf, size_t size)
{
	if (!size)
		return;
	snprintf(buf, size, "%s: byte %" PRIu64 ": %s", file, err->offset, err->message);
}

uint32_t gguf_version(const struct gguf_file *f) { return f->version; }
uint32_t gguf_alignment(const struct gguf_file *f) { return f->alignment; }
uint64_t gguf_data_offset(const struct gguf_file *f) { return f->data_offset; }
uint64_t gguf_file_size(const struct gguf_file *f) { return f->size; }
uint64_t gguf_kv_count(const struct gguf_file *f) { return f->kvs->len; }

static const struct gguf_kv *kv_at(const struct gguf_file *f, uint64_t i)
{
	assert(i < f->kvs->len);
	return &g_array_index(f->kvs, struct gguf_kv, i);
}

struct gguf_str gguf_kv_key(const struct gguf_file *f, uint64_t i) { return kv_at(f, i)->key; }
enum gguf_value_type gguf_kv_type(const struct gguf_file *f, uint64_t i) { return kv_at(f, i)->type; }

int64_t gguf_find_key(const struct gguf_file *f, const char *key)
{
	gpointer v = g_hash_table_lookup(f->keys, key);
	return v ? (int64_t)GPOINTER_TO_SIZE(v) - 1 : -1;
}

/* An integer element of type t at p, widened. Unsigned 64-bit values above
 * INT64_MAX are reported through *big. */
static int64_t read_int(enum gguf_value_type t, const uint8_t *p, bool *big)
{
	*big = false;
	switch (t) {
	case GGUF_TYPE_UINT8: return p[0];
	case GGUF_TYPE_INT8: return (int8_t)p[0];
	case GGUF_TYPE_UINT16: return le16(p);
	case GGUF_TYPE_INT16: return (int16_t)le16(p);
	case GGUF_TYPE_UINT32: return le32(p);
	case GGUF_TYPE_INT32: return (int32_t)le32(p);
	case GGUF_TYPE_INT64: return (int64_t)le64(p);
	case GGUF_TYPE_UINT64: {
		uint64_t v = le64(p);
		*big = v > INT64_MAX;
		return *big ? INT64_MAX : (int64_t)v;
	}
	default: return 0;
	}
}

static int find(const struct gguf_file *f, const char *key, const struct gguf_kv **kv)
{
	int64_t i = gguf_find_key(f, key);
	if (i < 0)
		return -ENOENT;
	*kv = kv_at(f, (uint64_t)i);
	return 0;
}

/* The integer value of key in [lo, hi]; big values of UINT64 keys count as > hi. */
static int get_int(const struct gguf_file *f, const char *key, int64_t lo, int64_t hi, uint64_t uhi, uint64_t *uout, int64_t *out)
{
	const struct gguf_kv *kv;
	int r = find(f, key, &kv);
	if (r)
		return r;
	if (!is_int_type(kv->type))
		return -EMEDIUMTYPE;
	if (kv->type == GGUF_TYPE_UINT64 && uout) {
		uint64_t v = le64(kv->value);
		if (v > uhi)
			return -ERANGE;
		*uout = v;
		return 0;
	}
	bool big;
	int64_t v = read_int(kv->type, kv->value, &big);
	if (big || v < lo || v > hi)
		return -ERANGE;
	if (uout)
		*uout = (uint64_t)v;
	else
		*out = v;
	return 0;
}

int gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *out)
{
	uint64_t v;
	int r = get_int(f, key, 0, UINT32_MAX, UINT32_MAX, &v, NULL);
	if (!r)
		*out = (uint32_t)v;
	return r;
}

int gguf_get_i32(const struct gguf_file *f, const char *key, int32_t *out)
{
	int64_t v;
	int r = get_int(f, key, INT32_MIN, INT32_MAX, 0, NULL, &v);
	if (!r)
		*out = (int32_t)v;
	return r;
}

int gguf_get_u64(const struct gguf_file *f, const char *key, uint64_t *out)
{
	return get_int(f, key, 0, INT64_MAX, UINT64_MAX, out, NULL);
}

int gguf_get_f32(const struct gguf_file *f, const char *key, float *out)
{
	const struct gguf_kv *kv;
	int r = find(f, key, &kv);
	if (r)
		return r;
	if (kv->type == GGUF_TYPE_FLOAT32) {
		uint32_t u = le32(kv->value);
		memcpy(out, &u, sizeof *out);
	} else if (kv->type == GGUF_TYPE_FLOAT64) {
		uint64_t u = le64(kv->value);
		double d;
		memcpy(&d, &u, sizeof d);
		*out = (float)d;
	} else {
		return -EMEDIUMTYPE;
	}
	return 0;
}

int gguf_get_bool(const struct gguf_file *f, const char *key, bool *out)
{
	const struct gguf_kv *kv;
	int r = find(f, key, &kv);
	if (r)
		return r;
	if (kv->type != GGUF_TYPE_BOOL)
		return -EMEDIUMTYPE;
	*out = kv->value[0] != 0;
	return 0;
}

int gguf_kv_get_str(const struct gguf_file *f, uint64_t i, struct gguf_str *out)
{
	const struct gguf_kv *kv = kv_at(f, i);
	if (kv->type != GGUF_TYPE_STRING)
		return -EMEDIUMTYPE;
	*out = kv->str;
	return 0;
}

int gguf_kv_get_array(const struct gguf_file *f, uint64_t i, struct gguf_array *out)
{
	const struct gguf_kv *kv = kv_at(f, i);
	if (kv->type != GGUF_TYPE_ARRAY)
		return -EMEDIUMTYPE;
	*out = kv->arr;
	return 0;
}

int gguf_get_str(const struct gguf_file *f, const char *key, struct gguf_str *out)
{
	int64_t i = gguf_find_key(f, key);
	return i < 0 ? -ENOENT : gguf_kv_get_str(f, (uint64_t)i, out);
}

int gguf_get_array(const struct gguf_file *f, const char *key, struct gguf_array *out)
{
	int64_t i = gguf_find_key(f, key);
	return i < 0 ? -ENOENT : gguf_kv_get_array(f, (uint64_t)i, out);
}

struct gguf_str gguf_array_string(const struct gguf_array *a, uint64_t i)
{
	assert(a->type == GGUF_TYPE_STRING && i < a->count);
	return ((const struct gguf_str *)a->priv)[i];
}

int gguf_array_int(const struct gguf_array *a, uint64_t i, int64_t *out)
{
	assert(i < a->count);
	if (!is_int_type(a->type))
		return -EMEDIUMTYPE;
	bool big;
	int64_t v = read_int(a->type, (const uint8_t *)a->data + i * value_type_size[a->type], &big);
	if (big)
		return -ERANGE;
	*out = v;
	return 0;
}

float gguf_array_f32(const struct gguf_array *a, uint64_t i)
{
	assert(a->type == GGUF_TYPE_FLOAT32 && i < a->count);
	uint32_t u = le32((const uint8_t *)a->data + i * 4);
	float v;
	memcpy(&v, &u, sizeof v);
	return v;
}

uint64_t gguf_tensor_count(const struct gguf_file *f) { return f->tensors->len; }

const struct gguf_tensor *gguf_tensor_at(const struct gguf_file *f, uint64_t i)
{
	assert(i < f->tensors->len);
	return &g_array_index(f->tensors, struct gguf_tensor, i);
}

const struct gguf_tensor *gguf_find_tensor(const struct gguf_file *f, const char *name)
{
	gpointer v = g_hash_table_lookup(f->names, name);
	return v ? gguf_tensor_at(f, GPOINTER_TO_SIZE(v) - 1) : NULL;
}
