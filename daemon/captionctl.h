/* daemon/captionctl.h — the subcommands of captionctl, one file each.
 *
 * Each takes the arguments after its own name (argv[0] is the subcommand)
 * and returns the process exit status: 0 success, 1 the input was bad (the
 * one-line reason is on stderr), 2 usage error.
 */
#ifndef CAPTIOND_DAEMON_CAPTIONCTL_H
#define CAPTIOND_DAEMON_CAPTIONCTL_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

int ctl_bench_main(int argc, char **argv);
int ctl_caption_main(int argc, char **argv);
int ctl_bench_vision_main(int argc, char **argv);  /* daemon/ctl_bench_vision.c */
int ctl_bench_caption_main(int argc, char **argv);

int ctl_generate_main(int argc, char **argv);
int ctl_inspect_main(int argc, char **argv);
int ctl_tokenize_main(int argc, char **argv);

/* Helpers shared by subcommands. */
struct tokenizer;
/* Open path's tokenizer; on failure print the reason and return -errno. */
int ctl_tokenizer_open(const char *path, struct tokenizer **out);

/* The Vulkan device, pipelines (cached on disk) and staging ring of a GPU
 * subcommand (daemon/ctl_gpu.c). */
struct gpu_device;
struct gpu_pipelines;
struct gpu_staging;
struct ctl_gpu {
	struct gpu_device *dev;
	struct gpu_pipelines *pipes;
	struct gpu_staging *staging;
};
/* Open (printing the reason on failure, -errno) and close (NULL-safe parts). */
int ctl_gpu_open(struct ctl_gpu *g);
void ctl_gpu_close(struct ctl_gpu *g);

/* The LM on the Vulkan engine (ctl_generate.c): the shared start-up above,
 * weights uploaded, tokenizer. open prints the reason on failure. */
struct gpu_lm;
struct lm_model;
struct ctl_lm {
	struct ctl_gpu gpu;
	struct gpu_lm *glm;
	struct lm_model *model;
	struct tokenizer *tok;
};
int ctl_lm_open(const char *path, struct ctl_lm *e);
void ctl_lm_close(struct ctl_lm *e); /* safe on a zeroed or failed one */
/* End-of-generation ids (spec §7.4): 7 and 2. */
bool ctl_lm_is_eog(int32_t id);

#endif
