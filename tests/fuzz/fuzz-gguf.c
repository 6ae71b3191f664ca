/* tests/fuzz/fuzz-gguf.c — libFuzzer target for the GGUF reader and the
 * LFM2 hyperparameter readers.
 *
 * Opens the input with gguf_file_open_memory(); a rejected file must come
 * with a one-line message. An accepted file is walked through every
 * accessor (keys by index and by name, every array element, every tensor and
 * its data bytes) so that ASan/UBSan see any promise the validator broke;
 * "lfm2" and "clip" files also go through hparams. Built with
 * -fsanitize=fuzzer when meson option fuzz is true, and linked with
 * replay.c in normal builds to run the committed corpus as a test.
 */
#include "model/gguf.h"
#include "model/hparams.h"

#include <errno.h>
#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant the reader promised does not hold: a finding. */
#define REQUIRE(x)                                                                      \
	do {                                                                            \
		if (!(x)) {                                                             \
			fprintf(stderr, "fuzz-gguf: %s:%d: %s\n", __FILE__, __LINE__, #x); \
			abort();                                                        \
		}                                                                       \
	} while (0)

static volatile uint64_t sink; /* keeps the reads of tensor data */

static void walk_array(const struct gguf_array *a)
{
	for (uint64_t i = 0; i < a->count; i++) {
		int64_t v;
		if (a->type == GGUF_TYPE_STRING) {
			struct gguf_str s = gguf_array_string(a, i);
			if (s.len)
				sink += (uint8_t)s.ptr[0] + (uint8_t)s.ptr[s.len - 1];
		} else if (a->type == GGUF_TYPE_FLOAT32) {
			float f = gguf_array_f32(a, i);
			sink += f == f;
		} else if (gguf_array_int(a, i, &v) == 0) {
			sink += (uint64_t)v;
		}
	}
}

static void walk_keys(const struct gguf_file *f)
{
	uint64_t n = gguf_kv_count(f);
	for (uint64_t i = 0; i < n; i++) {
		struct gguf_str k = gguf_kv_key(f, i);
		REQUIRE(k.len > 0 && !memchr(k.ptr, 0, k.len));
		char *key = g_strndup(k.ptr, k.len);
		REQUIRE(gguf_find_key(f, key) == (int64_t)i);
		enum gguf_value_type t = gguf_kv_type(f, i);
		REQUIRE(t <= GGUF_TYPE_FLOAT64);
		struct gguf_str s;
		struct gguf_array a;
		uint32_t u32;
		int32_t i32;
		uint64_t u64;
		float fl;
		bool b;
		REQUIRE((gguf_kv_get_str(f, i, &s) == 0) == (t == GGUF_TYPE_STRING));
		REQUIRE((gguf_get_str(f, key, &s) == 0) == (t == GGUF_TYPE_STRING));
		if (t == GGUF_TYPE_STRING && s.len)
			sink += (uint8_t)s.ptr[s.len - 1];
		REQUIRE((gguf_kv_get_array(f, i, &a) == 0) == (t == GGUF_TYPE_ARRAY));
		if (gguf_get_array(f, key, &a) == 0) {
			REQUIRE(a.type != GGUF_TYPE_ARRAY && a.type <= GGUF_TYPE_FLOAT64);
			walk_array(&a);
		}
		int r = gguf_get_u32(f, key, &u32);
		REQUIRE(r == 0 || r == -EMEDIUMTYPE || r == -ERANGE);
		r = gguf_get_i32(f, key, &i32);
		REQUIRE(r == 0 || r == -EMEDIUMTYPE || r == -ERANGE);
		r = gguf_get_u64(f, key, &u64);
		REQUIRE(r == 0 || r == -EMEDIUMTYPE || r == -ERANGE);
		REQUIRE((gguf_get_f32(f, key, &fl) == 0) == (t == GGUF_TYPE_FLOAT32 || t == GGUF_TYPE_FLOAT64));
		REQUIRE((gguf_get_bool(f, key, &b) == 0) == (t == GGUF_TYPE_BOOL));
		g_free(key);
	}
}

static void walk_tensors(const struct gguf_file *f, const uint8_t *data, size_t size)
{
	uint64_t n = gguf_tensor_count(f);
	for (uint64_t i = 0; i < n; i++) {
		const struct gguf_tensor *t = gguf_tensor_at(f, i);
		REQUIRE(gguf_find_tensor(f, t->name) == t);
		REQUIRE(t->name[0] && strlen(t->name) <= 63);
		REQUIRE(t->n_dims >= 1 && t->n_dims <= GGUF_MAX_DIMS);
		const uint8_t *p = t->data;
		REQUIRE(p >= data && (uint64_t)(p - data) <= size && t->n_bytes <= size - (uint64_t)(p - data));
		REQUIRE((uint64_t)(p - data) == gguf_data_offset(f) + t->offset);
		REQUIRE(t->offset % gguf_alignment(f) == 0);
		if (t->n_bytes)
			sink += p[0] + p[t->n_bytes - 1];
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gguf_file *f = NULL;
	struct gguf_error err;
	int r = gguf_file_open_memory(data, size, &f, &err);
	if (r) {
		REQUIRE(f == NULL);
		REQUIRE(r == -EBADMSG || r == -ENOMEM);
		REQUIRE(memchr(err.message, 0, sizeof err.message));
		REQUIRE(err.message[0] && !strchr(err.message, '\n'));
		REQUIRE(err.offset <= size);
		return 0;
	}
	REQUIRE(gguf_version(f) == 2 || gguf_version(f) == 3);
	REQUIRE(gguf_file_size(f) == size);
	walk_keys(f);
	walk_tensors(f, data, size);

	struct gguf_str arch;
	char msg[256];
	if (gguf_get_str(f, "general.architecture", &arch) == 0) {
		if (arch.len == 4 && !memcmp(arch.ptr, "lfm2", 4)) {
			struct lfm2_lm_hparams hp;
			r = lfm2_lm_hparams_read(f, &hp, msg, sizeof msg);
			REQUIRE(r == 0 || (r == -EBADMSG && msg[0] && !strchr(msg, '\n')));
		} else if (arch.len == 4 && !memcmp(arch.ptr, "clip", 4)) {
			struct lfm2_vision_hparams hp;
			r = lfm2_vision_hparams_read(f, &hp, msg, sizeof msg);
			REQUIRE(r == 0 || (r == -EBADMSG && msg[0] && !strchr(msg, '\n')));
		}
	}
	gguf_file_destroy(f);
	return 0;
}
