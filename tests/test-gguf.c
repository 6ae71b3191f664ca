/* tests/test-gguf.c — the GGUF reader: a table of hand-made bad files (exact
 * errno, offset and message, through memory and through a mapped temp file),
 * then good files: typed getters, arrays, tensors, v2, alignment, and the
 * GPT-2 vocabulary GGUF from llama.cpp. */
#include "model/gguf.h"
#include "model/quant.h"
#include "tests/check.h"
#include "tests/gguf-bytes.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

/* What a bad file must be rejected with. */
struct expect {
	uint64_t offset;
	char message[256];
};

static void expect(struct expect *e, uint64_t offset, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void expect(struct expect *e, uint64_t offset, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	e->offset = offset;
	vsnprintf(e->message, sizeof e->message, fmt, ap);
	va_end(ap);
}

static void hdr(GByteArray *b, uint64_t n_tensors, uint64_t n_kv) { gw_header(b, 3, n_tensors, n_kv); }
static void zeros(GByteArray *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		gw_u8(b, 0);
}

/* One KV "x" with the given type, then the position of the value. */
static uint64_t kv_x(GByteArray *b, uint32_t type)
{
	gw_str(b, "x");
	gw_u32(b, type);
	return b->len;
}

static void bad_empty(GByteArray *b, struct expect *e) { expect(e, 0, "empty file"); }

static void bad_short(GByteArray *b, struct expect *e)
{
	gw_bytes(b, "GGU", 3);
	expect(e, 0, "not a GGUF file: only 3 bytes");
}

static void bad_magic(GByteArray *b, struct expect *e)
{
	gw_bytes(b, "GGML", 4);
	zeros(b, 20);
	expect(e, 0, "not a GGUF file: magic 47 47 4d 4c, expected 47 47 55 46 (\"GGUF\")");
}

static void bad_version1(GByteArray *b, struct expect *e)
{
	gw_header(b, 1, 0, 0);
	expect(e, 4, "unsupported GGUF version 1 (this reader takes versions 2 and 3)");
}

static void bad_big_endian(GByteArray *b, struct expect *e)
{
	gw_header(b, 0x03000000, 0, 0);
	expect(e, 4, "unsupported GGUF version 50331648, a big-endian file (this reader takes versions 2 and 3)");
}

static void bad_short_counts(GByteArray *b, struct expect *e)
{
	gw_bytes(b, "GGUF", 4);
	gw_u32(b, 3);
	gw_u64(b, 0);
	expect(e, 8, "truncated: tensor and KV counts needs 16 bytes, 8 left");
}

static void bad_tensor_count(GByteArray *b, struct expect *e)
{
	hdr(b, 2, 0);
	zeros(b, 40);
	expect(e, 8, "tensor count 2 cannot fit in the 40 bytes that follow the header");
}

static void bad_kv_count(GByteArray *b, struct expect *e)
{
	hdr(b, 0, 4);
	zeros(b, 40);
	expect(e, 16, "KV count 4 and tensor count 0 cannot fit in the 40 bytes that follow the header");
}

static void bad_kv_count_huge(GByteArray *b, struct expect *e)
{
	hdr(b, 0, UINT64_C(1) << 63);
	zeros(b, 12);
	expect(e, 16, "KV count 9223372036854775808 and tensor count 0 cannot fit in the 12 bytes that follow the header");
}

static void bad_counts_together(GByteArray *b, struct expect *e)
{
	hdr(b, 1, 1);
	zeros(b, 40);
	expect(e, 16, "KV count 1 and tensor count 1 cannot fit in the 40 bytes that follow the header");
}

static void bad_key_length(GByteArray *b, struct expect *e)
{
	hdr(b, 0, 1);
	gw_u64(b, 100);
	zeros(b, 10);
	expect(e, 24, "key of KV 0: length 100 exceeds the 10 bytes left");
}

static void bad_empty_key(GByteArray *b, struct expect *e)
{
	hdr(b, 0, 1);
	gw_str(b, "");
	gw_u32(b, GGUF_TYPE_UINT32);
	gw_u32(b, 0);
	expect(e, 24, "KV 0: empty key");
}

static void bad_key_nul(GByteArray *b, struct expect *e)
{
	hdr(b, 0, 1);
	gw_u64(b, 3);
	gw_bytes(b, "a\0b", 3);
	gw_u32(b, GGUF_TYPE_UINT8);
	gw_u8(b, 0);
	expect(e, 24, "KV 0: key 'a\\x00b' contains a NUL byte");
}

static void bad_duplicate_key(GByteArray *b, struct expect *e)
{
	hdr(b, 0, 2);
	kv_x(b, GGUF_TYPE_UINT32);
	gw_u32(b, 1);
	uint64_t at = b->len;
	kv_x(b, GGUF_TYPE_UINT32);
	gw_u32(b, 2);
	expect(e, at, "duplicate key 'x' (also KV 0)");
}

static void bad_value_type(GByteArray *b, struct expect *e)
{
	hdr(b, 0, 1);
	uint64_t at = kv_x(b, 13) - 4;
	gw_u32(b, 0);
	expect(e, at, "key 'x': unknown value type 13");
}

static void bad_value_type_negative(GByteArray *b, struct expect *e)
{
	hdr(b, 0, 1);
	uint64_t at = kv_x(b, UINT32_MAX) - 4;
	gw_u32(b, 0);
	expect(e, at, "key 'x': unknown value type 4294967295");
}

static void bad_short_value(GByteArray *b, struct expect *e)
{
	hdr(b, 0, 1);
	uint64_t at = kv_x(b, GGUF_TYPE_UINT64);
	gw_u32(b, 0);
	expect(e, at, "truncated: value of key 'x' needs 8 bytes, 4 left");
}

static void bad_bool(GByteArray *b, struct expect *e)
{
	hdr(b, 0, 1);
	uint64_t at = kv_x(b, GGUF_TYPE_BOOL);
	gw_u8(b, 2);
	expect(e, at, "key 'x': BOOL value 2 is not 0 or 1");
}

static void bad_string_value(GByteArray *b, struct expect *e)
{
	hdr(b, 0, 1);
	uint64_t at = kv_x(b, GGUF_TYPE_STRING);
	gw_u64(b, 1000);
	gw_bytes(b, "abc", 3);
	expect(e, at, "string value of key 'x': length 1000 exceeds the 3 bytes left");
}

static void bad_nested_array(GByteArray *b, struct expect *e)
{
	hdr(b, 0, 1);
	uint64_t at = kv_x(b, GGUF_TYPE_ARRAY);
	gw_u32(b, GGUF_TYPE_ARRAY);
	gw_u64(b, 0);
	expect(e, at, "key 'x': nested arrays are not supported");
}

static void bad_array_type(GByteArray *b, struct expect *e)
{
	hdr(b, 0, 1);
	uint64_t at = kv_x(b, GGUF_TYPE_ARRAY);
	gw_u32(b, 13);
	gw_u64(b, 0);
	expect(e, at, "key 'x': unknown array element type 13");
}

static void bad_array_count(GByteArray *b, struct expect *e)
{
	hdr(b, 0, 1);
	uint64_t at = kv_x(b, GGUF_TYPE_ARRAY) + 4;
	gw_u32(b, GGUF_TYPE_UINT32);
	gw_u64(b, 10);
	zeros(b, 8);
	expect(e, at, "key 'x': array of 10 UINT32 elements cannot fit in the 8 bytes left");
}

static void bad_array_count_huge(GByteArray *b, struct expect *e)
{
	hdr(b, 0, 1);
	uint64_t at = kv_x(b, GGUF_TYPE_ARRAY) + 4;
	gw_u32(b, GGUF_TYPE_UINT64);
	gw_u64(b, UINT64_C(1) << 62); /* times 8 bytes wraps to 0 */
	expect(e, at, "key 'x': array of 4611686018427387904 UINT64 elements cannot fit in the 0 bytes left");
}

static void bad_string_array(GByteArray *b, struct expect *e)
{
	hdr(b, 0, 1);
	kv_x(b, GGUF_TYPE_ARRAY);
	gw_u32(b, GGUF_TYPE_STRING);
	gw_u64(b, 2);
	gw_str(b, "ok");
	uint64_t at = b->len;
	gw_u64(b, 50);
	gw_bytes(b, "short", 5);
	expect(e, at, "key 'x': element 1: string length 50 exceeds the 5 bytes left");
}

static void bad_bool_array(GByteArray *b, struct expect *e)
{
	hdr(b, 0, 1);
	kv_x(b, GGUF_TYPE_ARRAY);
	gw_u32(b, GGUF_TYPE_BOOL);
	gw_u64(b, 3);
	gw_u8(b, 1);
	gw_u8(b, 0);
	uint64_t at = b->len;
	gw_u8(b, 3);
	expect(e, at, "key 'x': element 2: BOOL value 3 is not 0 or 1");
}

static void bad_alignment_type(GByteArray *b, struct expect *e)
{
	hdr(b, 0, 1);
	gw_str(b, "general.alignment");
	uint64_t at = b->len;
	gw_u32(b, GGUF_TYPE_INT32);
	gw_u32(b, 32);
	expect(e, at, "general.alignment has type INT32, expected UINT32");
}

static void alignment_value(GByteArray *b, struct expect *e, uint32_t v)
{
	hdr(b, 0, 1);
	gw_str(b, "general.alignment");
	gw_u32(b, GGUF_TYPE_UINT32);
	uint64_t at = b->len;
	gw_u32(b, v);
	expect(e, at, "general.alignment %" PRIu32 " is not a power of two", v);
}
static void bad_alignment_24(GByteArray *b, struct expect *e) { alignment_value(b, e, 24); }
static void bad_alignment_0(GByteArray *b, struct expect *e) { alignment_value(b, e, 0); }

/* A header for one tensor and no KVs; returns the tensor info's offset. */
static uint64_t one_tensor(GByteArray *b) { hdr(b, 1, 0); return b->len; }
static const uint64_t ne16[1] = { 16 };

static void bad_tensor_empty_name(GByteArray *b, struct expect *e)
{
	uint64_t at = one_tensor(b);
	gw_tensor_info(b, "", 1, ne16, TENSOR_F32, 0);
	expect(e, at, "tensor 0: empty name");
}

static void bad_tensor_long_name(GByteArray *b, struct expect *e)
{
	uint64_t at = one_tensor(b);
	char name[65];
	memset(name, 'n', 64);
	name[64] = '\0';
	gw_tensor_info(b, name, 1, ne16, TENSOR_F32, 0);
	expect(e, at, "tensor 0: name is 64 bytes long, at most 63 are allowed");
}

static void bad_tensor_nul_name(GByteArray *b, struct expect *e)
{
	uint64_t at = one_tensor(b);
	gw_u64(b, 2);
	gw_bytes(b, "w\0", 2);
	gw_u32(b, 1);
	gw_u64(b, 16);
	gw_u32(b, TENSOR_F32);
	gw_u64(b, 0);
	expect(e, at, "tensor 0: name 'w\\x00' contains a NUL byte");
}

static void bad_tensor_duplicate(GByteArray *b, struct expect *e)
{
	hdr(b, 2, 0);
	gw_tensor_info(b, "w", 1, ne16, TENSOR_F32, 0);
	uint64_t at = b->len;
	gw_tensor_info(b, "w", 1, ne16, TENSOR_F32, 64);
	gw_pad(b, 32);
	zeros(b, 128);
	expect(e, at, "duplicate tensor name 'w' (also tensor 0)");
}

static void n_dims_case(GByteArray *b, struct expect *e, uint32_t n_dims)
{
	uint64_t at = one_tensor(b);
	gw_str(b, "w");
	at = b->len;
	gw_u32(b, n_dims);
	zeros(b, 8 * 5 + 4 + 8);
	expect(e, at, "tensor 'w': n_dims %" PRIu32 " is not in 1..4", n_dims);
}
static void bad_n_dims_0(GByteArray *b, struct expect *e) { n_dims_case(b, e, 0); }
static void bad_n_dims_5(GByteArray *b, struct expect *e) { n_dims_case(b, e, 5); }

static void bad_negative_dim(GByteArray *b, struct expect *e)
{
	one_tensor(b);
	gw_str(b, "w");
	gw_u32(b, 2);
	gw_u64(b, 16);
	uint64_t at = b->len;
	gw_u64(b, (uint64_t)-5);
	gw_u32(b, TENSOR_F32);
	gw_u64(b, 0);
	expect(e, at, "tensor 'w': ne[1] is negative (-5)");
}

/* One tensor info "w" with the given shape and type; returns the type's offset. */
static uint64_t tensor_w(GByteArray *b, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t offset)
{
	one_tensor(b);
	gw_tensor_info(b, "w", n_dims, ne, type, offset);
	return b->len - 12;
}

static void bad_tensor_type(GByteArray *b, struct expect *e)
{
	uint64_t at = tensor_w(b, 1, ne16, 4, 0);
	expect(e, at, "tensor 'w': unknown tensor type 4");
}

static void bad_block_multiple(GByteArray *b, struct expect *e)
{
	const uint64_t ne[1] = { 48 };
	uint64_t at = tensor_w(b, 1, ne, TENSOR_Q4_0, 0);
	expect(e, at, "tensor 'w': ne[0] = 48 is not a multiple of the Q4_0 block size 32");
}

static void bad_element_overflow(GByteArray *b, struct expect *e)
{
	const uint64_t ne[2] = { UINT64_C(1) << 32, UINT64_C(1) << 32 };
	uint64_t at = tensor_w(b, 2, ne, TENSOR_F32, 0);
	expect(e, at, "tensor 'w': element count overflows 64 bits");
}

static void bad_byte_overflow(GByteArray *b, struct expect *e)
{
	const uint64_t ne[2] = { UINT64_C(1) << 31, UINT64_C(1) << 31 }; /* 2^62 elements, 2^64 bytes */
	uint64_t at = tensor_w(b, 2, ne, TENSOR_F32, 0);
	expect(e, at, "tensor 'w': byte size overflows 64 bits");
}

static void bad_offset_alignment(GByteArray *b, struct expect *e)
{
	uint64_t at = tensor_w(b, 1, ne16, TENSOR_F32, 16) + 4;
	gw_pad(b, 32);
	zeros(b, 96);
	expect(e, at, "tensor 'w': data offset 16 is not a multiple of the alignment 32");
}

static void bad_data_past_end(GByteArray *b, struct expect *e)
{
	uint64_t at = tensor_w(b, 1, ne16, TENSOR_F32, 0) + 4;
	gw_pad(b, 32);
	uint64_t data = b->len;
	zeros(b, 32); /* 64 needed */
	expect(e, at, "tensor 'w': data [%" PRIu64 ", +64) ends past the end of the file (%u bytes)", data, b->len);
}

static void bad_data_offset_past_end(GByteArray *b, struct expect *e)
{
	uint64_t at = tensor_w(b, 1, ne16, TENSOR_F32, UINT64_C(1) << 40) + 4;
	gw_pad(b, 32);
	uint64_t data = b->len;
	zeros(b, 64);
	expect(e, at, "tensor 'w': data offset 1099511627776 is past the end of the file (data section at %" PRIu64 ", file %u bytes)",
	       data, b->len);
}

static void bad_overlap(GByteArray *b, struct expect *e)
{
	hdr(b, 2, 0);
	gw_tensor_info(b, "a", 1, ne16, TENSOR_F32, 0);
	const uint64_t ne8[1] = { 8 };
	gw_tensor_info(b, "b", 1, ne8, TENSOR_F32, 32);
	uint64_t at = b->len - 8;
	gw_pad(b, 32);
	uint64_t d = b->len;
	zeros(b, 64);
	expect(e, at, "tensor 'b': data [%" PRIu64 ", %" PRIu64 ") overlaps tensor 'a' [%" PRIu64 ", %" PRIu64 ")",
	       d + 32, d + 64, d, d + 64);
}

static void bad_truncated_tensor_info(GByteArray *b, struct expect *e)
{
	one_tensor(b);
	const char *name = "a_rather_long_tensor_name_here";
	gw_str(b, name);
	gw_u32(b, 1);
	gw_u64(b, 16);
	gw_u32(b, TENSOR_F32);
	expect(e, b->len, "truncated: data offset of tensor '%s' needs 8 bytes, 0 left", name);
}

static void bad_quoted_key(GByteArray *b, struct expect *e)
{
	/* A key with a newline and a quote must not break the one-line message. */
	hdr(b, 0, 1);
	gw_str(b, "a\n'b");
	uint64_t at = b->len;
	gw_u32(b, 99);
	gw_u32(b, 0);
	expect(e, at, "key 'a\\x0a\\x27b': unknown value type 99");
}

static const struct {
	const char *name;
	void (*build)(GByteArray *b, struct expect *e);
} bad_files[] = {
	{ "empty", bad_empty },
	{ "short", bad_short },
	{ "magic", bad_magic },
	{ "version 1", bad_version1 },
	{ "big-endian", bad_big_endian },
	{ "short counts", bad_short_counts },
	{ "tensor count", bad_tensor_count },
	{ "kv count", bad_kv_count },
	{ "kv count huge", bad_kv_count_huge },
	{ "counts together", bad_counts_together },
	{ "key length", bad_key_length },
	{ "empty key", bad_empty_key },
	{ "key NUL", bad_key_nul },
	{ "duplicate key", bad_duplicate_key },
	{ "value type", bad_value_type },
	{ "value type negative", bad_value_type_negative },
	{ "short value", bad_short_value },
	{ "bool", bad_bool },
	{ "string value", bad_string_value },
	{ "nested array", bad_nested_array },
	{ "array type", bad_array_type },
	{ "array count", bad_array_count },
	{ "array count huge", bad_array_count_huge },
	{ "string array", bad_string_array },
	{ "bool array", bad_bool_array },
	{ "alignment type", bad_alignment_type },
	{ "alignment 24", bad_alignment_24 },
	{ "alignment 0", bad_alignment_0 },
	{ "tensor empty name", bad_tensor_empty_name },
	{ "tensor long name", bad_tensor_long_name },
	{ "tensor NUL name", bad_tensor_nul_name },
	{ "tensor duplicate", bad_tensor_duplicate },
	{ "n_dims 0", bad_n_dims_0 },
	{ "n_dims 5", bad_n_dims_5 },
	{ "negative dim", bad_negative_dim },
	{ "tensor type", bad_tensor_type },
	{ "block multiple", bad_block_multiple },
	{ "element overflow", bad_element_overflow },
	{ "byte overflow", bad_byte_overflow },
	{ "offset alignment", bad_offset_alignment },
	{ "data past end", bad_data_past_end },
	{ "data offset past end", bad_data_offset_past_end },
	{ "overlap", bad_overlap },
	{ "truncated tensor info", bad_truncated_tensor_info },
	{ "quoted key", bad_quoted_key },
};

static char *write_temp(const void *data, size_t n)
{
	GError *error = NULL;
	char *path = NULL;
	int fd = g_file_open_tmp("test-gguf-XXXXXX.gguf", &path, &error);
	g_assert_no_error(error);
	close(fd);
	gboolean ok = g_file_set_contents(path, data, (gssize)n, &error);
	g_assert_no_error(error);
	g_assert(ok);
	return path;
}

static void check_rejected(const char *name, const char *via, int r, struct gguf_file *f,
			   const struct gguf_error *err, const struct expect *e)
{
	CHECKF(r == -EBADMSG, "%s (%s): r = %d", name, via, r);
	CHECKF(f == NULL, "%s (%s): file handed out", name, via);
	CHECKF(err->offset == e->offset, "%s (%s): offset %" PRIu64 ", expected %" PRIu64, name, via, err->offset, e->offset);
	CHECKF(!strcmp(err->message, e->message), "%s (%s):\n  got      '%s'\n  expected '%s'", name, via, err->message, e->message);
}

static void test_bad_files(void)
{
	for (size_t i = 0; i < G_N_ELEMENTS(bad_files); i++) {
		GByteArray *b = g_byte_array_new();
		struct expect e;
		bad_files[i].build(b, &e);
		struct gguf_file *f = (struct gguf_file *)&e; /* must be reset to NULL */
		struct gguf_error err = { 0 };
		/* An exact-size heap copy, so ASan sees any read past the end. */
		void *copy = g_memdup2(b->data, b->len);
		int r = gguf_file_open_memory(copy, b->len, &f, &err);
		check_rejected(bad_files[i].name, "memory", r, f, &err, &e);
		gguf_file_destroy(f);
		g_free(copy);

		char *path = write_temp(b->data, b->len);
		memset(&err, 0, sizeof err);
		r = gguf_file_open(path, &f, &err);
		check_rejected(bad_files[i].name, "file", r, f, &err, &e);
		gguf_file_destroy(f);
		g_unlink(path);
		g_free(path);
		g_byte_array_unref(b);
	}
	/* Every case above is different. */
	CHECK(G_N_ELEMENTS(bad_files) >= 20);
}

static void test_open_errors(void)
{
	struct gguf_file *f = NULL;
	struct gguf_error err;
	CHECK(gguf_file_open("/nonexistent/x.gguf", &f, &err) == -ENOENT && f == NULL);
	CHECK(!strcmp(err.message, "cannot open: No such file or directory"));
	CHECK(gguf_file_open("/", &f, &err) < 0 && f == NULL); /* EISDIR or "not a regular file" */
	CHECK(gguf_file_open("/nonexistent/x.gguf", &f, NULL) == -ENOENT); /* err may be NULL */

	char buf[64];
	struct gguf_error e = { .offset = 17, .message = "bad" };
	gguf_error_format(&e, "m.gguf", buf, sizeof buf);
	CHECK(!strcmp(buf, "m.gguf: byte 17: bad"));
	gguf_error_format(&e, "m.gguf", buf, 8);
	CHECK(!strcmp(buf, "m.gguf:"));
}

static void test_getters(struct gguf_file *f)
{
	uint32_t u32;
	int32_t i32;
	uint64_t u64;
	float fl;
	bool bo;
	struct gguf_str s;
	CHECK(gguf_get_u32(f, "u8", &u32) == 0 && u32 == 200);
	CHECK(gguf_get_i32(f, "u8", &i32) == 0 && i32 == 200);
	CHECK(gguf_get_i32(f, "i8", &i32) == 0 && i32 == -3);
	CHECK(gguf_get_u32(f, "i8", &u32) == -ERANGE);
	CHECK(gguf_get_u64(f, "i8", &u64) == -ERANGE);
	CHECK(gguf_get_u32(f, "u16", &u32) == 0 && u32 == 60000);
	CHECK(gguf_get_i32(f, "i16", &i32) == 0 && i32 == -30000);
	CHECK(gguf_get_u32(f, "u32", &u32) == 0 && u32 == 4000000000u);
	CHECK(gguf_get_i32(f, "u32", &i32) == -ERANGE);
	CHECK(gguf_get_u64(f, "u32", &u64) == 0 && u64 == 4000000000u);
	CHECK(gguf_get_i32(f, "i32", &i32) == 0 && i32 == -7);
	CHECK(gguf_get_u32(f, "i32", &u32) == -ERANGE);
	CHECK(gguf_get_u64(f, "u64", &u64) == 0 && u64 == UINT64_C(1) << 40);
	CHECK(gguf_get_u32(f, "u64", &u32) == -ERANGE);
	CHECK(gguf_get_i32(f, "u64", &i32) == -ERANGE);
	CHECK(gguf_get_u64(f, "u64huge", &u64) == 0 && u64 == UINT64_MAX);
	CHECK(gguf_get_i32(f, "u64huge", &i32) == -ERANGE);
	CHECK(gguf_get_u64(f, "i64", &u64) == -ERANGE);
	CHECK(gguf_get_i32(f, "i64", &i32) == 0 && i32 == -5);
	CHECK(gguf_get_f32(f, "f32", &fl) == 0 && fl == 1.5f);
	CHECK(gguf_get_f32(f, "f64", &fl) == 0 && fl == 0.25f);
	CHECK(gguf_get_f32(f, "u32", &fl) == -EMEDIUMTYPE);
	CHECK(gguf_get_u32(f, "f32", &u32) == -EMEDIUMTYPE);
	CHECK(gguf_get_u32(f, "bool", &u32) == -EMEDIUMTYPE);
	CHECK(gguf_get_u32(f, "str", &u32) == -EMEDIUMTYPE);
	CHECK(gguf_get_u32(f, "arr.i32", &u32) == -EMEDIUMTYPE);
	CHECK(gguf_get_bool(f, "bool", &bo) == 0 && bo);
	CHECK(gguf_get_bool(f, "u8", &bo) == -EMEDIUMTYPE);
	CHECK(gguf_get_str(f, "str", &s) == 0 && s.len == 5 && !memcmp(s.ptr, "hello", 5));
	CHECK(gguf_get_str(f, "u8", &s) == -EMEDIUMTYPE);
	CHECK(gguf_get_u32(f, "missing", &u32) == -ENOENT);
	CHECK(gguf_get_str(f, "missing", &s) == -ENOENT);
	CHECK(gguf_get_bool(f, "missing", &bo) == -ENOENT);
	CHECK(gguf_get_f32(f, "missing", &fl) == -ENOENT);

	struct gguf_array a;
	int64_t v;
	CHECK(gguf_get_array(f, "missing", &a) == -ENOENT);
	CHECK(gguf_get_array(f, "str", &a) == -EMEDIUMTYPE);
	CHECK(gguf_get_array(f, "arr.i32", &a) == 0 && a.type == GGUF_TYPE_INT32 && a.count == 3);
	CHECK(gguf_array_int(&a, 1, &v) == 0 && v == -2);
	CHECK(gguf_array_int(&a, 2, &v) == 0 && v == 8);
	CHECK(gguf_get_array(f, "arr.f32", &a) == 0 && a.count == 2);
	CHECK(gguf_array_f32(&a, 0) == 0.5f && gguf_array_f32(&a, 1) == -1.0f);
	CHECK(gguf_array_int(&a, 0, &v) == -EMEDIUMTYPE);
	CHECK(gguf_get_array(f, "arr.str", &a) == 0 && a.type == GGUF_TYPE_STRING && a.count == 3);
	s = gguf_array_string(&a, 0);
	CHECK(s.len == 1 && s.ptr[0] == 'a');
	CHECK(gguf_array_string(&a, 1).len == 0);
	s = gguf_array_string(&a, 2);
	CHECK(s.len == 3 && !memcmp(s.ptr, "ccc", 3));
	CHECK(gguf_array_int(&a, 0, &v) == -EMEDIUMTYPE);
	CHECK(gguf_get_array(f, "arr.empty", &a) == 0 && a.count == 0);
	CHECK(gguf_get_array(f, "arr.u64", &a) == 0 && a.count == 2);
	CHECK(gguf_array_int(&a, 0, &v) == 0 && v == 9);
	CHECK(gguf_array_int(&a, 1, &v) == -ERANGE);

	/* Listing: file order, keys and types. */
	CHECK(gguf_kv_count(f) == 18);
	struct gguf_str k = gguf_kv_key(f, 0);
	CHECK(k.len == 2 && !memcmp(k.ptr, "u8", 2));
	CHECK(gguf_kv_type(f, 0) == GGUF_TYPE_UINT8);
	CHECK(gguf_find_key(f, "str") == 12 && gguf_kv_type(f, 12) == GGUF_TYPE_STRING);
	CHECK(gguf_kv_get_str(f, 12, &s) == 0 && s.len == 5);
	CHECK(gguf_kv_get_str(f, 0, &s) == -EMEDIUMTYPE);
	CHECK(gguf_kv_get_array(f, 13, &a) == 0 && a.count == 3);
	CHECK(gguf_kv_get_array(f, 12, &a) == -EMEDIUMTYPE);
	CHECK(gguf_find_key(f, "missing") == -1);
}

static void test_tensors(struct gguf_file *f, const GByteArray *b, const void *base)
{
	CHECK(gguf_tensor_count(f) == 4);
	const struct gguf_tensor *w = gguf_find_tensor(f, "w");
	CHECK(w && w == gguf_tensor_at(f, 0));
	CHECK(w && !strcmp(w->name, "w") && w->n_dims == 2 && w->ne[0] == 64 && w->ne[1] == 3 &&
	      w->ne[2] == 1 && w->ne[3] == 1 && w->type == TENSOR_Q8_0);
	CHECK(w && w->n_elements == 192 && w->n_bytes == 6 * 34 && w->offset == 0);
	CHECK(w && w->data == (const uint8_t *)base + gguf_data_offset(f));
	const struct gguf_tensor *n = gguf_find_tensor(f, "norm");
	/* Second tensor: after the first one's 204 bytes padded to 32. */
	CHECK(n && n->offset == 224 && n->n_bytes == 28 && n->n_elements == 7);
	CHECK(n && (const uint8_t *)n->data - (const uint8_t *)base == (ptrdiff_t)(gguf_data_offset(f) + 224));
	const struct gguf_tensor *z = gguf_find_tensor(f, "empty");
	CHECK(z && z->n_elements == 0 && z->n_bytes == 0);
	const struct gguf_tensor *four = gguf_find_tensor(f, "four");
	CHECK(four && four->n_dims == 4 && four->n_elements == 256 && four->n_bytes == 8 * 18);
	CHECK(gguf_find_tensor(f, "missing") == NULL);
	CHECK(gguf_find_tensor(f, "") == NULL);
	CHECK(gguf_data_offset(f) % 32 == 0);
	CHECK(gguf_file_size(f) == b->len);
	/* The last tensor ends where the padded file ends. */
	CHECK(four && four->offset + 160 + gguf_data_offset(f) == b->len);
}

static void test_good_file(void)
{
	for (uint32_t version = 2; version <= 3; version++) {
		GByteArray *b = gw_typed_example(version);
		struct gguf_file *f = NULL;
		struct gguf_error err = { 0 };
		int r = gguf_file_open_memory(b->data, b->len, &f, &err);
		CHECKF(r == 0, "v%u: %s at %" PRIu64, version, err.message, err.offset);
		if (f) {
			CHECK(gguf_version(f) == version);
			CHECK(gguf_alignment(f) == 32);
			test_getters(f);
			test_tensors(f, b, b->data);
		}
		gguf_file_destroy(f);

		/* The same bytes through the mapped path. */
		char *path = write_temp(b->data, b->len);
		r = gguf_file_open(path, &f, &err);
		CHECKF(r == 0, "file: %s", err.message);
		if (f) {
			test_getters(f);
			CHECK(gguf_find_tensor(f, "w") && memcmp(gguf_find_tensor(f, "w")->data,
								 b->data + gguf_data_offset(f), 204) == 0);
		}
		gguf_file_destroy(f);
		g_unlink(path);
		g_free(path);
		g_byte_array_unref(b);
	}
	gguf_file_destroy(NULL);
}

static void test_alignment_key(void)
{
	struct gguf_builder *gb = gb_new(3);
	const uint64_t ne[1] = { 3 };
	gb_tensor(gb, "a", TENSOR_F32, 1, ne, true);
	gb_tensor(gb, "b", TENSOR_F32, 1, ne, true);
	GByteArray *b = gb_finish(gb, 256);
	gb_free(gb);
	struct gguf_file *f = NULL;
	struct gguf_error err;
	CHECK(gguf_file_open_memory(b->data, b->len, &f, &err) == 0);
	if (f) {
		CHECK(gguf_alignment(f) == 256);
		CHECK(gguf_data_offset(f) == 256);
		CHECK(gguf_find_tensor(f, "b")->offset == 256);
		uint32_t a;
		CHECK(gguf_get_u32(f, "general.alignment", &a) == 0 && a == 256);
	}
	gguf_file_destroy(f);
	g_byte_array_unref(b);
}

static void test_gpt2_vocab(void)
{
	const char *shared = getenv("CAPTIOND_SHARED_DIR");
	char *path = g_build_filename(shared ? shared : "", "data", "tokenizer", "ggml-vocab-gpt-2.gguf", NULL);
	if (!shared || !g_file_test(path, G_FILE_TEST_EXISTS)) {
		char reason[512];
		snprintf(reason, sizeof reason, "the GPT-2 vocabulary GGUF %s is absent (CAPTIOND_SHARED_DIR)", path);
		g_free(path);
		check_skip(reason);
	}
	struct gguf_file *f = NULL;
	struct gguf_error err;
	int r = gguf_file_open(path, &f, &err);
	CHECKF(r == 0, "%s: byte %" PRIu64 ": %s", path, err.offset, err.message);
	if (f) {
		struct gguf_str s;
		CHECK(gguf_get_str(f, "tokenizer.ggml.model", &s) == 0 && s.len == 4 && !memcmp(s.ptr, "gpt2", 4));
		struct gguf_array a;
		/* GPT-2's vocabulary: 50257 tokens, 50000 merges; 50256 is <|endoftext|>. */
		CHECK(gguf_get_array(f, "tokenizer.ggml.tokens", &a) == 0 && a.count == 50257);
		if (a.count == 50257) {
			s = gguf_array_string(&a, 50256);
			CHECK(s.len == 13 && !memcmp(s.ptr, "<|endoftext|>", 13));
			s = gguf_array_string(&a, 0);
			CHECK(s.len == 1 && s.ptr[0] == '!');
		}
		CHECK(gguf_get_array(f, "tokenizer.ggml.merges", &a) == 0 && a.count == 50000);
		CHECK(gguf_tensor_count(f) == 0);
		CHECK(gguf_version(f) == 3);
	}
	gguf_file_destroy(f);
	g_free(path);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "vocab")) {
		test_gpt2_vocab();
		return check_report();
	}
	test_bad_files();
	test_open_errors();
	test_good_file();
	test_alignment_key();
	return check_report();
}
