/* tests/test-prompt.c — prompt ids against the transformers goldens.
 *
 * The oracle (tests/reference/oracle.py) tokenized its prompt with Hugging
 * Face's tokenizers and recorded golden.seq.{b}.input_ids. Here the tiny LM
 * is regenerated with make-model (argv[1]) from the golden's own arguments,
 * and prompt_build() must give exactly those ids for the golden's image size.
 * Also: a tiled layout checked against spec §5.2 / §4.11 counts, and a
 * vocabulary without image tokens gives -ENOENT naming the token.
 */
#include "model/gguf.h"
#include "model/image_plan.h"
#include "model/prompt.h"
#include "model/tokenizer.h"
#include "tests/check.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

static struct tokenizer *load_tokenizer(const char *path)
{
	struct gguf_file *f = NULL;
	struct gguf_error gerr;
	struct tokenizer *tok = NULL;
	char err[256] = "";
	if (gguf_file_open(path, &f, &gerr) == 0)
		tokenizer_create_from_gguf(f, &tok, err, sizeof err);
	CHECKF(tok, "%s: %s", path, f ? err : gerr.message);
	gguf_file_destroy(f);
	return tok;
}

static char *kv_str(struct gguf_file *g, const char *key)
{
	struct gguf_str s;
	return gguf_get_str(g, key, &s) ? NULL : g_strndup(s.ptr, s.len);
}

static uint32_t kv_u32(struct gguf_file *g, const char *key)
{
	uint32_t v = 0;
	CHECKF(gguf_get_u32(g, key, &v) == 0, "%s missing", key);
	return v;
}

/* Generate the golden's LM into dir (once per distinct argument string). */
static char *golden_lm(const char *make_model, const char *lm_args, const char *dir)
{
	char *name = g_compute_checksum_for_string(G_CHECKSUM_SHA1, lm_args, -1);
	char *path = g_strdup_printf("%s/%s.gguf", dir, name);
	g_free(name);
	if (g_file_test(path, G_FILE_TEST_EXISTS))
		return path;
	char *cmd = g_strdup_printf("'%s' %s --lm '%s'", make_model, lm_args, path);
	int status = system(cmd);
	CHECKF(status == 0, "%s failed (%d)", cmd, status);
	g_free(cmd);
	return path;
}

static void check_golden(const char *golden_path, const char *make_model, const char *dir)
{
	struct gguf_file *g = NULL;
	struct gguf_error gerr;
	CHECKF(gguf_file_open(golden_path, &g, &gerr) == 0, "%s: %s", golden_path, gerr.message);
	if (!g)
		return;
	char *lm_args = kv_str(g, "golden.lm_args");
	char *text = kv_str(g, "golden.prompt");
	CHECK(lm_args && text);
	if (!lm_args || !text)
		goto out;
	char *lm = golden_lm(make_model, lm_args, dir);
	struct tokenizer *tok = load_tokenizer(lm);
	g_free(lm);
	uint32_t n_seq = kv_u32(g, "golden.n_seq");
	for (uint32_t b = 0; tok && b < n_seq; b++) {
		char key[64];
		snprintf(key, sizeof key, "golden.seq.%u.image_width", b);
		uint32_t w = kv_u32(g, key);
		snprintf(key, sizeof key, "golden.seq.%u.image_height", b);
		uint32_t h = kv_u32(g, key);
		struct image_plan_params params;
		struct image_plan plan;
		image_plan_params_default(&params);
		CHECK(image_plan_compute(&params, w, h, &plan) == 0);
		struct prompt_request req = { .user_text = text, .image = &plan, .tile_tokens = 256 };
		GArray *ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
		char err[256] = "";
		int32_t slot = -1;
		CHECKF(prompt_build(tok, &req, ids, &slot, err, sizeof err) == 0, "%s", err);
		snprintf(key, sizeof key, "golden.seq.%u.input_ids", b);
		struct gguf_array want;
		CHECK(gguf_get_array(g, key, &want) == 0);
		bool same = want.count == ids->len;
		for (uint64_t i = 0; same && i < want.count; i++) {
			int64_t v;
			same = gguf_array_int(&want, i, &v) == 0 && v == g_array_index(ids, int32_t, i);
		}
		CHECKF(same, "%s seq %u (%ux%u): %u ids built, golden has %" G_GUINT64_FORMAT,
		       golden_path, b, w, h, ids->len, want.count);
		uint32_t slots = 0;
		for (guint i = 0; i < ids->len; i++)
			slots += g_array_index(ids, int32_t, i) == slot;
		CHECK(slots == plan.n_embd);
		g_array_free(ids, TRUE);
	}
	tokenizer_destroy(tok);
out:
	g_free(lm_args);
	g_free(text);
	gguf_file_destroy(g);
}

/* A tiled image: markers in row-major order, 256 slots a tile, thumbnail last;
 * positions as spec §4.11 counts them. */
static void check_tiled(struct tokenizer *tok)
{
	struct image_plan_params params;
	struct image_plan plan;
	image_plan_params_default(&params);
	CHECK(image_plan_compute(&params, 1280, 720, &plan) == 0 && plan.tiled);
	struct prompt_request req = { .user_text = "Describe this image.", .image = &plan, .tile_tokens = 256 };
	GArray *ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
	char err[256];
	int32_t slot;
	CHECK(prompt_build(tok, &req, ids, &slot, err, sizeof err) == 0);
	int32_t start = tokenizer_find(tok, "<|image_start|>", 15);
	int32_t end = tokenizer_find(tok, "<|image_end|>", 13);
	guint first = 0, last = 0;
	for (guint i = 0; i < ids->len; i++) {
		if (g_array_index(ids, int32_t, i) == start)
			first = i;
		if (g_array_index(ids, int32_t, i) == end)
			last = i;
	}
	CHECK(last > first);
	CHECK(last - first + 1 == plan.n_positions); /* §4.11: N + 2 + tiles + thumbnail */
	int32_t *v = (int32_t *)ids->data;
	CHECK(v[first + 1] == tokenizer_find(tok, "<|img_row_1_col_1|>", 19));
	CHECK(v[first + 2 + 256] == tokenizer_find(tok, "<|img_row_1_col_2|>", 19));
	CHECK(v[first + 3 + 512] == tokenizer_find(tok, "<|img_thumbnail|>", 17));
	CHECK(v[first + 4 + 512] == slot);
	g_array_free(ids, TRUE);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		check_skip("usage: test-prompt MAKE-MODEL");
	const char *src = g_getenv("CAPTIOND_SOURCE_ROOT");
	char *goldens = g_build_filename(src ? src : ".", "tests", "data", "goldens", NULL);
	GDir *d = g_dir_open(goldens, 0, NULL);
	if (!d)
		check_skip("no tests/data/goldens: nothing to compare against");
	char *dir = g_dir_make_tmp("test-prompt-XXXXXX", NULL);
	const char *name;
	int n = 0;
	while ((name = g_dir_read_name(d))) {
		if (!g_str_has_suffix(name, ".gguf"))
			continue;
		char *path = g_build_filename(goldens, name, NULL);
		check_golden(path, argv[1], dir);
		g_free(path);
		n++;
	}
	g_dir_close(d);
	CHECKF(n > 0, "no golden files in %s", goldens);

	char *lm = golden_lm(argv[1], "--preset tiny --lm-type F32 --seed 1", dir);
	struct tokenizer *tok = load_tokenizer(lm);
	if (tok)
		check_tiled(tok);
	tokenizer_destroy(tok);
	g_free(lm);

	/* Remove what make-model wrote. */
	GDir *t = g_dir_open(dir, 0, NULL);
	while (t && (name = g_dir_read_name(t))) {
		char *p = g_build_filename(dir, name, NULL);
		g_unlink(p);
		g_free(p);
	}
	if (t)
		g_dir_close(t);
	g_rmdir(dir);
	g_free(dir);
	g_free(goldens);
	return check_report();
}
