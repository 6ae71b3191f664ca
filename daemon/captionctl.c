/* daemon/captionctl.c — captionctl: inspect models, tokenize, and (later)
 * generate, caption, benchmark and watch the daemon. One subcommand per file
 * (daemon/ctl_*.c); this file only dispatches. */
#include "daemon/captionctl.h"

#include <stdio.h>
#include <string.h>

struct subcommand {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *summary;
};

static int ctl_version_main(int argc, char **argv)
{
	printf("captionctl %s\n", CAPTIOND_VERSION);
	return 0;
}

static const struct subcommand subcommands[] = {
	/* keep sorted by name */
	{ "bench", ctl_bench_main, "benchmarks printing JSON (tokenizer, lm, vision, caption)" },
	{ "caption", ctl_caption_main, "caption PNG/JPEG files (one line each) with an LM and an mmproj" },
	{ "generate", ctl_generate_main, "text generation with the LM on the GPU" },
	{ "inspect", ctl_inspect_main, "show a GGUF file's architecture, hyperparameters and tensors" },
	{ "status", ctl_status_main, "print captiond's per-stream counters, rates and latencies" },
	{ "tokenize", ctl_tokenize_main, "text to token ids and back with a model's tokenizer" },
	{ "version", ctl_version_main, "print the version" },
	{ "watch", ctl_watch_main, "print captions from captiond's socket as they come" },
};

static void usage(FILE *out)
{
	fprintf(out, "usage: captionctl COMMAND [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(out, "\n'captionctl COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version"))
		return ctl_version_main(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].main(argc - 1, argv + 1);
	fprintf(stderr, "captionctl: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
