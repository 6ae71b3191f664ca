/* daemon/ctl_caption.c — captionctl caption: PNG/JPEG files → one caption per
 * line, all files in one batch through vk/captioner.h.
 *
 * Images are decoded by GStreamer (filesrc ! decodebin ! videoconvert !
 * video/x-raw,format=RGB ! appsink): no image library of our own. The
 * device is chosen as everywhere (CAPTIOND_VK_DEVICE, vk/device.h).
 */
#include "daemon/captionctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include "vk/captioner.h"

#define DECODE_TIMEOUT_S 30

/* Decode one image file to packed RGB8; *pixels g_free. */
static int decode_image(const char *path, uint8_t **pixels, uint32_t *w, uint32_t *h)
{
	GError *e = NULL;
	char *loc = g_strescape(path, NULL);
	char *desc = g_strdup_printf("filesrc location=\"%s\" ! decodebin ! videoconvert ! "
				     "video/x-raw,format=RGB ! appsink name=sink sync=false", loc);
	GstElement *pipe = gst_parse_launch(desc, &e);
	g_free(loc);
	g_free(desc);
	if (!pipe) {
		fprintf(stderr, "captionctl: %s: %s\n", path, e ? e->message : "no pipeline");
		g_clear_error(&e);
		return -EINVAL;
	}
	g_clear_error(&e);
	int ret = -EBADMSG;
	GstElement *sink = gst_bin_get_by_name(GST_BIN(pipe), "sink");
	GstSample *sample = NULL;
	gst_element_set_state(pipe, GST_STATE_PLAYING);
	sample = gst_app_sink_try_pull_preroll(GST_APP_SINK(sink), (GstClockTime)DECODE_TIMEOUT_S * GST_SECOND);
	if (!sample) {
		GstBus *bus = gst_element_get_bus(pipe);
		GstMessage *msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
		if (msg) {
			GError *me = NULL;
			gst_message_parse_error(msg, &me, NULL);
			fprintf(stderr, "captionctl: %s: %s\n", path, me ? me->message : "decode error");
			g_clear_error(&me);
			gst_message_unref(msg);
		} else {
			fprintf(stderr, "captionctl: %s: no image decoded\n", path);
		}
		gst_object_unref(bus);
		goto out;
	}
	GstVideoInfo info;
	GstBuffer *buf = gst_sample_get_buffer(sample);
	GstMapInfo map;
	if (!gst_video_info_from_caps(&info, gst_sample_get_caps(sample)) || !buf ||
	    !gst_buffer_map(buf, &map, GST_MAP_READ)) {
		fprintf(stderr, "captionctl: %s: unreadable frame\n", path);
		goto out;
	}
	const uint32_t W = (uint32_t)GST_VIDEO_INFO_WIDTH(&info), H = (uint32_t)GST_VIDEO_INFO_HEIGHT(&info);
	const size_t stride = (size_t)GST_VIDEO_INFO_PLANE_STRIDE(&info, 0);
	const size_t off = GST_VIDEO_INFO_PLANE_OFFSET(&info, 0);
	if (W == 0 || H == 0 || W > 16384 || H > 16384 || stride < (size_t)W * 3 ||
	    off + (H - 1) * stride + (size_t)W * 3 > map.size) {
		fprintf(stderr, "captionctl: %s: frame %ux%u does not fit its buffer\n", path, W, H);
		gst_buffer_unmap(buf, &map);
		goto out;
	}
	*pixels = g_malloc((size_t)W * H * 3);
	for (uint32_t y = 0; y < H; y++)
		memcpy(*pixels + (size_t)y * W * 3, map.data + off + y * stride, (size_t)W * 3);
	gst_buffer_unmap(buf, &map);
	*w = W;
	*h = H;
	ret = 0;
out:
	if (sample)
		gst_sample_unref(sample);
	gst_element_set_state(pipe, GST_STATE_NULL);
	gst_object_unref(sink);
	gst_object_unref(pipe);
	return ret;
}

static void json_string(GString *s, const char *t)
{
	g_string_append_c(s, '"');
	for (const unsigned char *p = (const unsigned char *)t; *p; p++) {
		if (*p == '"' || *p == '\\')
			g_string_append_printf(s, "\\%c", *p);
		else if (*p < 0x20)
			g_string_append_printf(s, "\\u%04x", *p);
		else
			g_string_append_c(s, (char)*p);
	}
	g_string_append_c(s, '"');
}

static void usage(FILE *f)
{
	fprintf(f, "usage: captionctl caption --model LM.gguf --mmproj MM.gguf [--prompt TEXT] [--greedy]\n"
		   "                          [--json] [--max-tokens N] [--seed N] [--no-eos]\n"
		   "                          [--min-image-tokens N] [--max-image-tokens N] IMAGE...\n"
		   "Captions PNG/JPEG files, one line each, all in one batch. Sampling defaults to\n"
		   "Liquid AI's recommendation (temperature 0.1, min_p 0.15, repetition penalty 1.05,\n"
		   "top_k 50); --greedy takes the argmax with the penalty off (as the goldens).\n"
		   "Image tokens default to 64..256 (LFM2.5-VL-450M recommends --min-image-tokens 32).\n");
}

int ctl_caption_main(int argc, char **argv)
{
	const char *lm = NULL, *mm = NULL, *prompt = NULL;
	bool greedy = false, json = false, no_eos = false;
	unsigned long max_tokens = 64, seed = 1, min_img = 0, max_img = 0;
	int first = argc;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has = i + 1 < argc;
		if (!strcmp(a, "--model") && has)
			lm = argv[++i];
		else if (!strcmp(a, "--mmproj") && has)
			mm = argv[++i];
		else if (!strcmp(a, "--prompt") && has)
			prompt = argv[++i];
		else if (!strcmp(a, "--max-tokens") && has)
			max_tokens = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(a, "--min-image-tokens") && has)
			min_img = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(a, "--max-image-tokens") && has)
			max_img = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(a, "--seed") && has)
			seed = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(a, "--greedy"))
			greedy = true;
		else if (!strcmp(a, "--json"))
			json = true;
		else if (!strcmp(a, "--no-eos"))
			no_eos = true;
		else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (a[0] == '-' && a[1] == '-') {
			usage(stderr);
			return 2;
		} else {
			first = i;
			break;
		}
	}
	if (!lm || !mm || first >= argc || max_tokens == 0 || max_tokens > 4096) {
		usage(stderr);
		return 2;
	}
	const uint32_t n = (uint32_t)(argc - first);
	if (n > 256) {
		fprintf(stderr, "captionctl: at most 256 images per call\n");
		return 2;
	}
	gst_init(NULL, NULL);
	int status = 1;
	uint8_t **pix = g_new0(uint8_t *, n);
	struct vision_frame *fr = g_new0(struct vision_frame, n);
	struct caption *cap = g_new0(struct caption, n);
	struct captioner *c = NULL;
	struct ctl_gpu gpu = { 0 };
	uint32_t max_w = 0, max_h = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t w, h;
		if (decode_image(argv[first + i], &pix[i], &w, &h) < 0)
			goto out;
		fr[i] = (struct vision_frame){ .pixels = pix[i], .width = w, .height = h, .channels = 3 };
		max_w = w > max_w ? w : max_w;
		max_h = h > max_h ? h : max_h;
	}
	if (ctl_gpu_open(&gpu) < 0)
		goto out;
	struct captioner_config cfg;
	captioner_config_default(&cfg);
	cfg.prompt = prompt;
	cfg.max_tokens = (uint32_t)max_tokens;
	cfg.seed = seed;
	cfg.stop_on_eos = !no_eos;
	cfg.max_batch = n;
	cfg.max_width = max_w;
	cfg.max_height = max_h;
	if (min_img)
		cfg.image.min_image_tokens = (uint32_t)min_img;
	if (max_img)
		cfg.image.max_image_tokens = (uint32_t)max_img;
	if (cfg.image.min_image_tokens > cfg.image.max_image_tokens || cfg.image.max_image_tokens > 1024) {
		fprintf(stderr, "captionctl: bad --min-image-tokens/--max-image-tokens\n");
		status = 2;
		goto out;
	}
	if (greedy)
		cfg.sampling = (struct sampler_params){ .temperature = 0.0f, .repetition_penalty = 1.0f };
	char err[256] = "";
	if (captioner_create(gpu.dev, gpu.pipes, gpu.staging, lm, mm, &cfg, &c, err, sizeof err) < 0) {
		fprintf(stderr, "captionctl: %s\n", err);
		goto out;
	}
	int ret = captioner_run(c, fr, n, cap);
	if (ret < 0) {
		fprintf(stderr, "captionctl: captioning failed (%d)\n", ret);
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (!json) {
			/* one caption per line */
			g_strdelimit(cap[i].text, "\r\n", ' ');
			printf("%s\n", cap[i].text);
			continue;
		}
		GString *s = g_string_new("{\"class\":\"caption\",\"file\":");
		json_string(s, argv[first + i]);
		g_string_append(s, ",\"caption\":");
		json_string(s, cap[i].text);
		g_string_append_printf(s, ",\"width\":%u,\"height\":%u,\"image_tokens\":%u,"
				       "\"prompt_tokens\":%u,\"caption_tokens\":%u,\"batch\":%u,"
				       "\"encode_ms\":%.3f,\"prefill_ms\":%.3f,\"decode_ms\":%.3f}",
				       fr[i].width, fr[i].height, cap[i].n_image_tokens, cap[i].n_prompt,
				       cap[i].n_tokens, n, cap[i].encode_ms, cap[i].prefill_ms, cap[i].decode_ms);
		printf("%s\n", s->str);
		g_string_free(s, TRUE);
	}
	status = 0;
out:
	for (uint32_t i = 0; i < n; i++) {
		caption_clear(&cap[i]);
		g_free(pix[i]);
	}
	captioner_destroy(c);
	ctl_gpu_close(&gpu);
	g_free(pix);
	g_free(fr);
	g_free(cap);
	return status;
}
