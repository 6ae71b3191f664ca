/* tests/tools/make-model.c — command line of the test-model generator.
 *
 *   make-model --preset tiny|450m|1.6b --lm-type T [--mmproj-type T]
 *              [--seed N] --lm OUT.gguf [--mmproj OUT.gguf] [--verbose]
 *
 * T: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 (default F32). Prints
 * nothing on success unless --verbose. Exit 0, or 1 with a message.
 */
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tools/model-gen.h"

static int usage(void)
{
	fprintf(stderr, "usage: make-model --preset tiny|450m|1.6b --lm-type T [--mmproj-type T]\n"
			"                  [--seed N] --lm OUT.gguf [--mmproj OUT.gguf] [--verbose]\n"
			"T: F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1\n");
	return 1;
}

int main(int argc, char **argv)
{
	struct model_gen_options o = { .preset = NULL, .lm_type = 0, .mm_type = 0, .seed = 1 };
	const char *lm_path = NULL, *mm_path = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--verbose") == 0) {
			o.verbose = true;
			continue;
		}
		if (i + 1 >= argc)
			return usage();
		const char *v = argv[++i];
		if (strcmp(a, "--preset") == 0) {
			o.preset = v;
		} else if (strcmp(a, "--lm-type") == 0 || strcmp(a, "--mmproj-type") == 0) {
			uint32_t *t = a[2] == 'l' ? &o.lm_type : &o.mm_type;
			if (model_gen_parse_type(v, t) < 0) {
				fprintf(stderr, "make-model: unknown type '%s'\n", v);
				return usage();
			}
		} else if (strcmp(a, "--seed") == 0) {
			char *end = NULL;
			errno = 0;
			unsigned long long s = strtoull(v, &end, 10);
			if (errno || !*v || *end || *v == '-') {
				fprintf(stderr, "make-model: bad seed '%s'\n", v);
				return usage();
			}
			o.seed = s;
		} else if (strcmp(a, "--lm") == 0) {
			lm_path = v;
		} else if (strcmp(a, "--mmproj") == 0) {
			mm_path = v;
		} else {
			fprintf(stderr, "make-model: unknown option '%s'\n", a);
			return usage();
		}
	}
	if (!model_gen_preset_known(o.preset) || (!lm_path && !mm_path))
		return usage();

	int rc = 0;
	gint64 t0 = g_get_monotonic_time();
	if (lm_path && (rc = model_gen_write_lm(&o, lm_path)) < 0) {
		fprintf(stderr, "make-model: writing %s: %s\n", lm_path, g_strerror(-rc));
		return 1;
	}
	gint64 t1 = g_get_monotonic_time();
	if (mm_path && (rc = model_gen_write_mmproj(&o, mm_path)) < 0) {
		fprintf(stderr, "make-model: writing %s: %s\n", mm_path, g_strerror(-rc));
		return 1;
	}
	if (o.verbose)
		fprintf(stderr, "make-model: lm %.2f s, mmproj %.2f s\n", (double)(t1 - t0) / 1e6,
			(double)(g_get_monotonic_time() - t1) / 1e6);
	return 0;
}
