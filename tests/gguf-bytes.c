/* tests/gguf-bytes.c — in-memory GGUF writer for tests (see the header). */
#include "tests/gguf-bytes.h"

#include "model/gguf.h"
#include "model/quant.h"

#include <string.h>

void gw_bytes(GByteArray *b, const void *p, size_t n) { g_byte_array_append(b, p, (guint)n); }
void gw_u8(GByteArray *b, uint8_t v) { gw_bytes(b, &v, 1); }

void gw_u16(GByteArray *b, uint16_t v)
{
	uint8_t p[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	gw_bytes(b, p, 2);
}

void gw_u32(GByteArray *b, uint32_t v)
{
	uint8_t p[4];
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	gw_bytes(b, p, 4);
}

void gw_u64(GByteArray *b, uint64_t v)
{
	gw_u32(b, (uint32_t)v);
	gw_u32(b, (uint32_t)(v >> 32));
}

void gw_f32(GByteArray *b, float v)
{
	uint32_t u;
	memcpy(&u, &v, 4);
	gw_u32(b, u);
}

void gw_str(GByteArray *b, const char *s)
{
	gw_u64(b, strlen(s));
	gw_bytes(b, s, strlen(s));
}

void gw_header(GByteArray *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
	gw_bytes(b, "GGUF", 4);
	gw_u32(b, version);
	gw_u64(b, n_tensors);
	gw_u64(b, n_kv);
}

void gw_pad(GByteArray *b, uint32_t alignment)
{
	while (b->len % alignment)
		gw_u8(b, 0);
}

void gw_tensor_info(GByteArray *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t offset)
{
	gw_str(b, name);
	gw_u32(b, n_dims);
	for (uint32_t i = 0; i < n_dims; i++)
		gw_u64(b, ne[i]);
	gw_u32(b, type);
	gw_u64(b, offset);
}

struct gb_kv {
	char *key;
	GByteArray *value; /* type + value bytes */
};

struct gb_tensor {
	char *name;
	uint32_t type, n_dims;
	uint64_t ne[4];
	bool pattern;
};

struct gguf_builder {
	uint32_t version;
	GPtrArray *kvs;
	GPtrArray *tensors;
};

static void kv_free(gpointer p)
{
	struct gb_kv *kv = p;
	g_free(kv->key);
	g_byte_array_unref(kv->value);
	g_free(kv);
}

static void tensor_free(gpointer p)
{
	struct gb_tensor *t = p;
	g_free(t->name);
	g_free(t);
}

struct gguf_builder *gb_new(uint32_t version)
{
	struct gguf_builder *gb = g_new0(struct gguf_builder, 1);
	gb->version = version;
	gb->kvs = g_ptr_array_new_with_free_func(kv_free);
	gb->tensors = g_ptr_array_new_with_free_func(tensor_free);
	return gb;
}

void gb_free(struct gguf_builder *gb)
{
	if (!gb)
		return;
	g_ptr_array_unref(gb->kvs);
	g_ptr_array_unref(gb->tensors);
	g_free(gb);
}

static GByteArray *kv_begin(struct gguf_builder *gb, const char *key, uint32_t type)
{
	struct gb_kv *kv = g_new0(struct gb_kv, 1);
	kv->key = g_strdup(key);
	kv->value = g_byte_array_new();
	gw_u32(kv->value, type);
	g_ptr_array_add(gb->kvs, kv);
	return kv->value;
}

void gb_kv_raw(struct gguf_builder *gb, const char *key, uint32_t type, const void *value, size_t n)
{
	gw_bytes(kv_begin(gb, key, type), value, n);
}

void gb_kv_u32(struct gguf_builder *gb, const char *key, uint32_t v) { gw_u32(kv_begin(gb, key, GGUF_TYPE_UINT32), v); }
void gb_kv_i32(struct gguf_builder *gb, const char *key, int32_t v) { gw_u32(kv_begin(gb, key, GGUF_TYPE_INT32), (uint32_t)v); }
void gb_kv_u64(struct gguf_builder *gb, const char *key, uint64_t v) { gw_u64(kv_begin(gb, key, GGUF_TYPE_UINT64), v); }
void gb_kv_f32(struct gguf_builder *gb, const char *key, float v) { gw_f32(kv_begin(gb, key, GGUF_TYPE_FLOAT32), v); }
void gb_kv_bool(struct gguf_builder *gb, const char *key, bool v) { gw_u8(kv_begin(gb, key, GGUF_TYPE_BOOL), v); }
void gb_kv_str(struct gguf_builder *gb, const char *key, const char *v) { gw_str(kv_begin(gb, key, GGUF_TYPE_STRING), v); }

void gb_kv_arr_i32(struct gguf_builder *gb, const char *key, uint64_t n, const int32_t *v)
{
	GByteArray *b = kv_begin(gb, key, GGUF_TYPE_ARRAY);
	gw_u32(b, GGUF_TYPE_INT32);
	gw_u64(b, n);
	for (uint64_t i = 0; i < n; i++)
		gw_u32(b, (uint32_t)v[i]);
}

void gb_kv_arr_f32(struct gguf_builder *gb, const char *key, uint64_t n, const float *v)
{
	GByteArray *b = kv_begin(gb, key, GGUF_TYPE_ARRAY);
	gw_u32(b, GGUF_TYPE_FLOAT32);
	gw_u64(b, n);
	for (uint64_t i = 0; i < n; i++)
		gw_f32(b, v[i]);
}

void gb_kv_arr_str(struct gguf_builder *gb, const char *key, uint64_t n, const char *const *v)
{
	GByteArray *b = kv_begin(gb, key, GGUF_TYPE_ARRAY);
	gw_u32(b, GGUF_TYPE_STRING);
	gw_u64(b, n);
	for (uint64_t i = 0; i < n; i++)
		gw_str(b, v[i]);
}

void gb_kv_remove(struct gguf_builder *gb, const char *key)
{
	for (guint i = 0; i < gb->kvs->len; i++) {
		struct gb_kv *kv = g_ptr_array_index(gb->kvs, i);
		if (!strcmp(kv->key, key)) {
			g_ptr_array_remove_index(gb->kvs, i);
			return;
		}
	}
}

void gb_tensor(struct gguf_builder *gb, const char *name, uint32_t type, uint32_t n_dims, const uint64_t *ne, bool pattern)
{
	struct gb_tensor *t = g_new0(struct gb_tensor, 1);
	t->name = g_strdup(name);
	t->pattern = pattern;
	g_ptr_array_add(gb->tensors, t);
	gb_tensor_reshape(gb, name, type, n_dims, ne);
}

static struct gb_tensor *find_tensor(struct gguf_builder *gb, const char *name, guint *index)
{
	for (guint i = 0; i < gb->tensors->len; i++) {
		struct gb_tensor *t = g_ptr_array_index(gb->tensors, i);
		if (!strcmp(t->name, name)) {
			if (index)
				*index = i;
			return t;
		}
	}
	return NULL;
}

void gb_tensor_reshape(struct gguf_builder *gb, const char *name, uint32_t type, uint32_t n_dims, const uint64_t *ne)
{
	struct gb_tensor *t = find_tensor(gb, name, NULL);
	g_assert(t && n_dims <= 4);
	t->type = type;
	t->n_dims = n_dims;
	for (uint32_t i = 0; i < 4; i++)
		t->ne[i] = i < n_dims ? ne[i] : 1;
}

void gb_tensor_remove(struct gguf_builder *gb, const char *name)
{
	guint i;
	if (find_tensor(gb, name, &i))
		g_ptr_array_remove_index(gb->tensors, i);
}

static uint64_t tensor_bytes(const struct gb_tensor *t)
{
	uint64_t row = 0;
	int r = tensor_row_bytes(t->type, t->ne[0], &row);
	g_assert(r == 0);
	return row * t->ne[1] * t->ne[2] * t->ne[3];
}

GByteArray *gb_finish(struct gguf_builder *gb, uint32_t alignment)
{
	GByteArray *b = g_byte_array_new();
	bool write_alignment = alignment != GGUF_DEFAULT_ALIGNMENT;
	gw_header(b, gb->version, gb->tensors->len, gb->kvs->len + write_alignment);
	if (write_alignment) {
		gw_str(b, "general.alignment");
		gw_u32(b, GGUF_TYPE_UINT32);
		gw_u32(b, alignment);
	}
	for (guint i = 0; i < gb->kvs->len; i++) {
		struct gb_kv *kv = g_ptr_array_index(gb->kvs, i);
		gw_str(b, kv->key);
		gw_bytes(b, kv->value->data, kv->value->len);
	}
	uint64_t offset = 0;
	for (guint i = 0; i < gb->tensors->len; i++) {
		struct gb_tensor *t = g_ptr_array_index(gb->tensors, i);
		gw_tensor_info(b, t->name, t->n_dims, t->ne, t->type, offset);
		offset += (tensor_bytes(t) + alignment - 1) / alignment * alignment;
	}
	if (gb->tensors->len)
		gw_pad(b, alignment);
	for (guint i = 0; i < gb->tensors->len; i++) {
		struct gb_tensor *t = g_ptr_array_index(gb->tensors, i);
		uint64_t n = tensor_bytes(t);
		/* A small deterministic pattern per name: FNV-1a then xorshift. */
		uint32_t h = 2166136261u;
		for (const char *p = t->name; *p; p++)
			h = (h ^ (uint8_t)*p) * 16777619u;
		if (!t->pattern) {
			guint at = b->len;
			g_byte_array_set_size(b, (guint)(at + n));
			memset(b->data + at, 0, n);
			n = 0;
		}
		for (uint64_t j = 0; j < n; j++) {
			uint8_t v = 0;
			if (t->pattern) {
				h ^= h << 13;
				h ^= h >> 17;
				h ^= h << 5;
				v = (uint8_t)h;
			}
			gw_u8(b, v);
		}
		gw_pad(b, alignment);
	}
	return b;
}

GByteArray *gw_typed_example(uint32_t version)
{
	struct gguf_builder *gb = gb_new(version);
	uint8_t u8 = 200;
	int8_t i8 = -3;
	uint16_t u16 = 60000;
	int16_t i16 = -30000;
	uint64_t u64big = UINT64_C(1) << 40;
	uint64_t u64huge = UINT64_MAX;
	int64_t i64neg = -5;
	double f64 = 0.25;
	gb_kv_raw(gb, "u8", GGUF_TYPE_UINT8, &u8, 1);
	gb_kv_raw(gb, "i8", GGUF_TYPE_INT8, &i8, 1);
	gb_kv_raw(gb, "u16", GGUF_TYPE_UINT16, &u16, 2); /* the test host is little-endian */
	gb_kv_raw(gb, "i16", GGUF_TYPE_INT16, &i16, 2);
	gb_kv_u32(gb, "u32", 4000000000u);
	gb_kv_i32(gb, "i32", -7);
	gb_kv_u64(gb, "u64", u64big);
	gb_kv_raw(gb, "u64huge", GGUF_TYPE_UINT64, &u64huge, 8);
	gb_kv_raw(gb, "i64", GGUF_TYPE_INT64, &i64neg, 8);
	gb_kv_f32(gb, "f32", 1.5f);
	gb_kv_raw(gb, "f64", GGUF_TYPE_FLOAT64, &f64, 8);
	gb_kv_bool(gb, "bool", true);
	gb_kv_str(gb, "str", "hello");
	const int32_t ints[3] = { 0, -2, 8 };
	gb_kv_arr_i32(gb, "arr.i32", 3, ints);
	const float fl[2] = { 0.5f, -1.0f };
	gb_kv_arr_f32(gb, "arr.f32", 2, fl);
	const char *const strs[3] = { "a", "", "ccc" };
	gb_kv_arr_str(gb, "arr.str", 3, strs);
	gb_kv_arr_str(gb, "arr.empty", 0, NULL);
	uint8_t u64arr[4 + 8 + 16];
	uint32_t t = GGUF_TYPE_UINT64;
	uint64_t n = 2, v0 = 9, v1 = UINT64_MAX;
	memcpy(u64arr, &t, 4);
	memcpy(u64arr + 4, &n, 8);
	memcpy(u64arr + 12, &v0, 8);
	memcpy(u64arr + 20, &v1, 8);
	gb_kv_raw(gb, "arr.u64", GGUF_TYPE_ARRAY, u64arr, sizeof u64arr);

	const uint64_t ne_w[2] = { 64, 3 }, ne_n[1] = { 7 }, ne_z[2] = { 0, 4 }, ne_4[4] = { 32, 2, 2, 2 };
	gb_tensor(gb, "w", TENSOR_Q8_0, 2, ne_w, true);
	gb_tensor(gb, "norm", TENSOR_F32, 1, ne_n, true);
	gb_tensor(gb, "empty", TENSOR_F16, 2, ne_z, true);
	gb_tensor(gb, "four", TENSOR_Q4_0, 4, ne_4, true);
	GByteArray *b = gb_finish(gb, 32);
	gb_free(gb);
	return b;
}

struct gguf_builder *gb_lfm2(const struct model_gen_shape *s, bool lm, uint32_t type)
{
	struct model_gen_layout *l = NULL;
	int r = model_gen_layout_create(s, lm, type, false, &l);
	g_assert(r == 0);
	struct gguf_builder *gb = gb_new(3);
	for (guint i = 0; i < l->kvs->len; i++) {
		const struct model_gen_kv *kv = &g_array_index(l->kvs, struct model_gen_kv, i);
		switch (kv->type) {
		case GGUF_TYPE_UINT32: gb_kv_u32(gb, kv->key, kv->u32); break;
		case GGUF_TYPE_FLOAT32: gb_kv_f32(gb, kv->key, kv->f32); break;
		case GGUF_TYPE_BOOL: gb_kv_bool(gb, kv->key, kv->b); break;
		case GGUF_TYPE_STRING: gb_kv_str(gb, kv->key, kv->str); break;
		default: /* no vocabulary: INT32 or FLOAT32 arrays only */
			if (kv->elem == GGUF_TYPE_INT32)
				gb_kv_arr_i32(gb, kv->key, kv->n, kv->arr);
			else
				gb_kv_arr_f32(gb, kv->key, kv->n, kv->arr);
		}
	}
	for (guint i = 0; i < l->tensors->len; i++) {
		const struct model_gen_tensor *t = &g_array_index(l->tensors, struct model_gen_tensor, i);
		gb_tensor(gb, t->name, t->type, t->n_dims, t->ne, false);
	}
	model_gen_layout_destroy(l);
	return gb;
}
