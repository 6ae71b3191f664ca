/* tests/golden-models.h — the models a golden file was made from,
 * regenerated with tests/tools/make-model (docs/test-models.md): shared by
 * the tests that compare against the transformers goldens. */
#ifndef CAPTIOND_TESTS_GOLDEN_MODELS_H
#define CAPTIOND_TESTS_GOLDEN_MODELS_H

#include <stdbool.h>
#include <stdint.h>

struct gguf_file;

/* $CAPTIOND_BUILD_ROOT/tests/tools/make-model, or NULL when not built (g_free). */
char *golden_make_model_path(void);

/* sha256 (hex) of a file's bytes; NULL when unreadable (g_free). */
char *golden_file_sha256(const char *path);

/* The model file for (args, is_lm) — args as the golden's golden.lm_args /
 * golden.mmproj_args — with sha256 want_sha (NULL: any), made once into the
 * build dir and reused while its hash matches. NULL on failure, with the
 * reason printed on stderr. g_free the result. */
char *golden_get_model(const char *tool, const char *args, bool is_lm, const char *want_sha);

/* Golden keys: a string (g_free; NULL when absent) and an INT32 array
 * (free(); NULL when absent or malformed). */
char *golden_kv_string(const struct gguf_file *f, const char *key);
int32_t *golden_kv_ints(const struct gguf_file *f, const char *key, uint32_t *n);

/* Every .gguf in $CAPTIOND_SOURCE_ROOT/tests/data/goldens, sorted; a
 * NULL-terminated g_strfreev list. */
char **golden_files(void);

#endif
