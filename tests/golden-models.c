/* tests/golden-models.c — see golden-models.h. */
#include "tests/golden-models.h"

#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"

char *golden_file_sha256(const char *path)
{
	gchar *data = NULL;
	gsize len = 0;
	if (!g_file_get_contents(path, &data, &len, NULL))
		return NULL;
	char *hex = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)data, len);
	g_free(data);
	return hex;
}

char *golden_make_model_path(void)
{
	const char *b = getenv("CAPTIOND_BUILD_ROOT");
	char *p = g_build_filename(b ? b : ".", "tests", "tools", "make-model", NULL);
	if (!g_file_test(p, G_FILE_TEST_IS_EXECUTABLE)) {
		g_free(p);
		return NULL;
	}
	return p;
}

/* Run make-model with args (the golden's string) writing the LM (is_lm) or the
 * mmproj to out; the other file's type is fixed and its output discarded, as
 * tests/reference/make_goldens.py does. */
static int run_make_model(const char *tool, const char *args, bool is_lm, const char *out)
{
	gchar **argv0 = NULL;
	if (!g_shell_parse_argv(args, NULL, &argv0, NULL))
		return -EINVAL;
	GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);
	g_ptr_array_add(argv, g_strdup(tool));
	for (gchar **a = argv0; *a; a++)
		g_ptr_array_add(argv, g_strdup(*a));
	char *unused = g_strconcat(out, ".unused-lm.gguf", NULL);
	if (is_lm) {
		g_ptr_array_add(argv, g_strdup("--mmproj-type"));
		g_ptr_array_add(argv, g_strdup("F32"));
		g_ptr_array_add(argv, g_strdup("--lm"));
		g_ptr_array_add(argv, g_strdup(out));
	} else {
		g_ptr_array_add(argv, g_strdup("--lm-type"));
		g_ptr_array_add(argv, g_strdup("F32"));
		g_ptr_array_add(argv, g_strdup("--lm"));
		g_ptr_array_add(argv, g_strdup(unused));
		g_ptr_array_add(argv, g_strdup("--mmproj"));
		g_ptr_array_add(argv, g_strdup(out));
	}
	g_ptr_array_add(argv, NULL);
	gint status = -1;
	GError *e = NULL;
	gchar *err_out = NULL;
	gboolean ok = g_spawn_sync(NULL, (gchar **)argv->pdata, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
				   NULL, &err_out, &status, &e);
	int ret = ok && g_spawn_check_wait_status(status, NULL) ? 0 : -EIO;
	if (ret < 0)
		fprintf(stderr, "make-model %s failed: %s\n", args, e ? e->message : err_out ? err_out : "");
	remove(unused);
	g_clear_error(&e);
	g_free(err_out);
	g_free(unused);
	g_ptr_array_free(argv, TRUE);
	g_strfreev(argv0);
	return ret;
}

/* The model file for (args, is_lm) with the given sha256, made once into the
 * build dir and reused while its hash still matches. NULL on failure. */
char *golden_get_model(const char *tool, const char *args, bool is_lm, const char *want_sha)
{
	const char *b = getenv("CAPTIOND_BUILD_ROOT");
	char *dir = g_build_filename(b ? b : ".", "tests", "reference-models", NULL);
	g_mkdir_with_parents(dir, 0755);
	char *name = g_strdup_printf("%s-%s.gguf", is_lm ? "lm" : "mmproj", want_sha ? want_sha : "selftest");
	char *path = g_build_filename(dir, name, NULL);
	g_free(dir);
	g_free(name);
	char *sha = golden_file_sha256(path);
	if (!sha || !want_sha || strcmp(sha, want_sha) != 0) {
		g_free(sha);
		sha = NULL;
		if (run_make_model(tool, args, is_lm, path) == 0)
			sha = golden_file_sha256(path);
	}
	bool ok = sha && (!want_sha || strcmp(sha, want_sha) == 0);
	if (!ok)
		fprintf(stderr, "make-model %s: sha256 %s, golden says %s\n", args, sha ? sha : "(none)",
			want_sha ? want_sha : "-");
	g_free(sha);
	if (!ok) {
		g_free(path);
		return NULL;
	}
	return path;
}

char *golden_kv_string(const struct gguf_file *f, const char *key)
{
	struct gguf_str s;
	if (gguf_get_str(f, key, &s) < 0)
		return NULL;
	return g_strndup(s.ptr, s.len);
}

/* A golden INT32 array into a fresh buffer. */
int32_t *golden_kv_ints(const struct gguf_file *f, const char *key, uint32_t *n)
{
	struct gguf_array a;
	*n = 0;
	if (gguf_get_array(f, key, &a) < 0 || a.count == 0 || a.count > 1u << 20)
		return NULL;
	int32_t *v = malloc(a.count * sizeof *v);
	for (uint64_t i = 0; v && i < a.count; i++) {
		int64_t x = 0;
		if (gguf_array_int(&a, i, &x) < 0 || x < INT32_MIN || x > INT32_MAX) {
			free(v);
			return NULL;
		}
		v[i] = (int32_t)x;
	}
	*n = (uint32_t)a.count;
	return v;
}


static gint cmp_str(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **golden_files(void)
{
	const char *src = getenv("CAPTIOND_SOURCE_ROOT");
	char *dir = g_build_filename(src ? src : ".", "tests", "data", "goldens", NULL);
	GPtrArray *files = g_ptr_array_new();
	GDir *dh = g_dir_open(dir, 0, NULL);
	for (const char *e; dh && (e = g_dir_read_name(dh));)
		if (g_str_has_suffix(e, ".gguf"))
			g_ptr_array_add(files, g_build_filename(dir, e, NULL));
	if (dh)
		g_dir_close(dh);
	g_free(dir);
	g_ptr_array_sort(files, cmp_str);
	g_ptr_array_add(files, NULL);
	return (char **)g_ptr_array_free(files, FALSE);
}
