/* tests/fuzz/replay.c — run a fuzz target over corpus files without
 * libFuzzer: each argument is a file or a folder of files. Exits 1 when no
 * file was found (an empty corpus checks nothing); a finding aborts. */
#include <glib.h>
#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	char *data = NULL;
	gsize size = 0;
	GError *error = NULL;
	if (!g_file_get_contents(path, &data, &size, &error)) {
		fprintf(stderr, "replay: %s\n", error->message);
		g_error_free(error);
		return -1;
	}
	/* An exact-size copy so ASan sees reads past the end. */
	void *copy = g_memdup2(data, size);
	g_free(data);
	LLVMFuzzerTestOneInput(copy, size);
	g_free(copy);
	return 0;
}

int main(int argc, char **argv)
{
	int n = 0, failed = 0;
	for (int i = 1; i < argc; i++) {
		if (!g_file_test(argv[i], G_FILE_TEST_IS_DIR)) {
			failed |= run_file(argv[i]) < 0;
			n++;
			continue;
		}
		GDir *dir = g_dir_open(argv[i], 0, NULL);
		const char *name;
		while (dir && (name = g_dir_read_name(dir))) {
			char *path = g_build_filename(argv[i], name, NULL);
			failed |= run_file(path) < 0;
			g_free(path);
			n++;
		}
		if (dir)
			g_dir_close(dir);
	}
	fprintf(stderr, "replay: %d inputs\n", n);
	return failed || n == 0 ? 1 : 0;
}
