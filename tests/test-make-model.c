/* tests/test-make-model.c — the test-model generator is deterministic: the
 * same arguments give byte-identical files (sha256), another seed gives
 * another file, the CLI is silent on success and writes what the library
 * writes, and the floats behind a tensor depend only on its name and seed. */
#include <glib.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/wait.h>

#include "model/quant.h"
#include "tests/check.h"
#include "tests/tools/model-gen.h"

static char *sha256_of(const char *path)
{
	gchar *data = NULL;
	gsize len = 0;
	if (!g_file_get_contents(path, &data, &len, NULL))
		return g_strdup("(unreadable)");
	char *sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)data, len);
	g_free(data);
	return sum;
}

/* Writes LM and mmproj of the tiny preset and returns "lm-sha mmproj-sha". */
static char *generate(const char *dir, const char *tag, uint32_t type, uint64_t seed)
{
	struct model_gen_options o = { .preset = "tiny", .lm_type = type, .mm_type = type, .seed = seed };
	char *lm = g_strdup_printf("%s/%s-lm.gguf", dir, tag);
	char *mm = g_strdup_printf("%s/%s-mmproj.gguf", dir, tag);
	CHECK(model_gen_write_lm(&o, lm) == 0);
	CHECK(model_gen_write_mmproj(&o, mm) == 0);
	char *a = sha256_of(lm), *b = sha256_of(mm);
	char *both = g_strdup_printf("%s %s", a, b);
	g_remove(lm);
	g_remove(mm);
	g_free(a);
	g_free(b);
	g_free(lm);
	g_free(mm);
	return both;
}

static void test_deterministic(const char *dir)
{
	static const char *const types[] = { "F32", "F16", "Q8_0", "Q4_0" };
	char *seen[4] = { 0 };
	for (int i = 0; i < 4; i++) {
		uint32_t t = 0;
		CHECK(model_gen_parse_type(types[i], &t) == 0);
		char *a = generate(dir, "a", t, 1);
		char *b = generate(dir, "b", t, 1);
		char *c = generate(dir, "c", t, 2);
		CHECKF(strcmp(a, b) == 0, "%s: two runs differ: %s / %s", types[i], a, b);
		/* both files change with the seed */
		CHECKF(strncmp(a, c, 64) != 0 && strcmp(a + 65, c + 65) != 0, "%s: seed ignored", types[i]);
		for (int j = 0; j < i; j++)
			CHECKF(strncmp(seen[j], a, 64) != 0, "%s and %s LM files equal", types[j], types[i]);
		seen[i] = a;
		g_free(b);
		g_free(c);
	}
	for (int i = 0; i < 4; i++)
		g_free(seen[i]);
}

/* The command line writes exactly what the library writes, and prints
 * nothing on success; bad arguments fail with a message. */
static void test_cli(const char *dir, const char *exe)
{
	char *lm = g_strdup_printf("%s/cli-lm.gguf", dir), *mm = g_strdup_printf("%s/cli-mm.gguf", dir);
	const char *argv[] = { exe, "--preset", "tiny", "--lm-type", "Q4_0", "--mmproj-type", "Q8_0",
			       "--seed", "7", "--lm", lm, "--mmproj", mm, NULL };
	char *out = NULL, *err = NULL;
	int status = -1;
	CHECK(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status,
			   NULL));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECKF(out && err && !*out && !*err, "stdout '%s' stderr '%s'", out, err);
	char *cli_lm = sha256_of(lm), *cli_mm = sha256_of(mm);
	g_free(out);
	g_free(err);

	struct model_gen_options o = { .preset = "tiny", .lm_type = TENSOR_Q4_0, .mm_type = TENSOR_Q8_0,
				       .seed = 7 };
	CHECK(model_gen_write_lm(&o, lm) == 0 && model_gen_write_mmproj(&o, mm) == 0);
	char *lib_lm = sha256_of(lm), *lib_mm = sha256_of(mm);
	CHECK(strcmp(cli_lm, lib_lm) == 0);
	CHECK(strcmp(cli_mm, lib_mm) == 0);
	g_remove(lm);
	g_remove(mm);

	const char *bad[] = { exe, "--preset", "huge", "--lm-type", "F32", "--lm", lm, NULL };
	CHECK(g_spawn_sync(NULL, (char **)bad, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status,
			   NULL));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1 && err && strstr(err, "usage"));
	CHECK(!g_file_test(lm, G_FILE_TEST_EXISTS));
	g_free(out);
	g_free(err);
	g_free(cli_lm);
	g_free(cli_mm);
	g_free(lib_lm);
	g_free(lib_mm);
	g_free(lm);
	g_free(mm);
}

static void test_values(void)
{
	/* A tensor's floats depend on its name and the seed only, and a range
	 * read from the middle equals the same range of a read from 0. */
	float a[600], b[100], c[100];
	CHECK(model_gen_values("tiny", 1, "blk.0.ffn_up.weight", 0, a, 600) == 0);
	CHECK(model_gen_values("tiny", 1, "blk.0.ffn_up.weight", 500, b, 100) == 0);
	CHECK(memcmp(a + 500, b, sizeof b) == 0);
	CHECK(model_gen_values("tiny", 1, "blk.1.ffn_up.weight", 500, c, 100) == 0);
	CHECK(memcmp(b, c, sizeof b) != 0);
	CHECK(model_gen_values("tiny", 2, "blk.0.ffn_up.weight", 500, c, 100) == 0);
	CHECK(memcmp(b, c, sizeof b) != 0);
	CHECK(model_gen_values("tiny", 1, "v.post_ln.bias", 0, c, 100) == 0);
	CHECK(model_gen_values("tiny", 1, "no.such.tensor", 0, c, 1) == -ENOENT);
	CHECK(model_gen_values("tiny", 1, "token_embd_norm.weight", 200, c, 57) == -EINVAL);

	/* The scales the header promises: linear N(0, 1/in), norms 1 + 0.1·N. */
	static float w[256 * 512];
	CHECK(model_gen_values("tiny", 1, "blk.0.ffn_gate.weight", 0, w, 256 * 512) == 0);
	double s1 = 0, s2 = 0;
	for (int i = 0; i < 256 * 512; i++) {
		s1 += w[i];
		s2 += (double)w[i] * w[i];
	}
	double mean = s1 / (256 * 512), var = s2 / (256 * 512) - mean * mean;
	/* 131072 samples of N(0, 1/256): the mean's standard error is 1.7e-4
	 * and the variance's relative one sqrt(2/N) = 0.4%; bounds at ~5σ. */
	CHECKF(fabs(mean) < 1e-3 && fabs(var * 256 - 1) < 0.02, "mean %g var·256 %g", mean, var * 256);
	CHECK(model_gen_values("tiny", 1, "blk.0.ffn_norm.weight", 0, w, 256) == 0);
	s1 = 0;
	for (int i = 0; i < 256; i++)
		s1 += w[i];
	CHECKF(fabs(s1 / 256 - 1) < 0.03, "norm weight mean %g", s1 / 256); /* σ of the mean 0.006 */
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test-make-model PATH-TO-make-model\n");
		return 1;
	}
	const char *root = g_getenv("CAPTIOND_BUILD_ROOT");
	char *tmpl = g_build_filename(root ? root : g_get_tmp_dir(), "test-make-model-XXXXXX", NULL);
	char *dir = g_mkdtemp(tmpl);
	CHECK(dir != NULL);
	if (!dir)
		return check_report();
	test_values();
	test_deterministic(dir);
	test_cli(dir, argv[1]);
	g_rmdir(dir);
	g_free(tmpl);
	return check_report();
}
