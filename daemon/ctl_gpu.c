/* daemon/ctl_gpu.c — the Vulkan start-up every GPU subcommand of captionctl
 * shares: the device (CAPTIOND_VK_* knobs), every pipeline (cached on disk in
 * $XDG_CACHE_HOME/captiond so later runs skip the driver's compile), and the
 * staging ring. */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "daemon/captionctl.h"
#include "vk/device.h"
#include "vk/pipeline.h"
#include "vk/staging.h"

#define STAGING_BYTES (64u << 20)

int ctl_gpu_open(struct ctl_gpu *g)
{
	struct gpu_device_config cfg = { 0 };
	memset(g, 0, sizeof *g);
	gpu_device_config_from_env(&cfg);
	int ret = gpu_device_create(&cfg, &g->dev);
	if (ret < 0) {
		fprintf(stderr, "captionctl: no usable Vulkan device: %s\n", g_strerror(-ret));
		return ret;
	}
	gchar *dir = g_build_filename(g_get_user_cache_dir(), "captiond", NULL);
	gchar *cache = g_build_filename(dir, "vk-pipelines.bin", NULL);
	g_mkdir_with_parents(dir, 0700);
	if ((ret = gpu_pipelines_create(g->dev, cache, &g->pipes)) < 0 ||
	    (ret = gpu_staging_create(g->dev, STAGING_BYTES, &g->staging)) < 0) {
		fprintf(stderr, "captionctl: Vulkan start-up failed: %s\n", g_strerror(-ret));
		ctl_gpu_close(g);
	}
	g_free(cache);
	g_free(dir);
	return ret;
}

void ctl_gpu_close(struct ctl_gpu *g)
{
	gpu_staging_destroy(g->staging);
	gpu_pipelines_destroy(g->pipes);
	gpu_device_destroy(g->dev); /* prints the profile with CAPTIOND_PROFILE=1 */
	memset(g, 0, sizeof *g);
}
