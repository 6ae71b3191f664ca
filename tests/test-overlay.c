/* tests/test-overlay.c — the caption drawn by a stream's display branch.
 *
 * A stream of a still test pattern renders its display branch into a PNG
 * (sink "/dir/x.png": pngenc ! multifilesink max-files=1), once without and
 * once with a caption. The PNGs are decoded with GStreamer's pngdec and
 * compared: the caption's band (the bottom, or the top with position top)
 * changed, the opposite third of the frame did not.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include "pipeline/capture.h"
#include "pipeline/overlay.h"
#include "tests/check.h"

#define W 320
#define H 240

/* Decode a PNG into RGB rows of W*3 bytes; g_free the result; NULL on failure. */
static uint8_t *decode_png(const char *path)
{
	char *desc = g_strdup_printf("filesrc location=\"%s\" ! pngdec ! videoconvert ! "
				     "video/x-raw,format=RGB,width=%d,height=%d ! appsink name=s sync=false", path, W, H);
	GError *gerr = NULL;
	GstElement *p = gst_parse_launch(desc, &gerr);
	g_free(desc);
	if (!p || gerr) {
		fprintf(stderr, "decode_png: %s\n", gerr ? gerr->message : "?");
		g_clear_error(&gerr);
		if (p)
			gst_object_unref(p);
		return NULL;
	}
	GstElement *sink = gst_bin_get_by_name(GST_BIN(p), "s");
	gst_element_set_state(p, GST_STATE_PLAYING);
	GstSample *sample = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 5 * GST_SECOND);
	uint8_t *rgb = NULL;
	if (sample) {
		GstVideoInfo info;
		GstMapInfo m;
		GstBuffer *b = gst_sample_get_buffer(sample);
		if (gst_video_info_from_caps(&info, gst_sample_get_caps(sample)) && gst_buffer_map(b, &m, GST_MAP_READ)) {
			int stride = GST_VIDEO_INFO_PLANE_STRIDE(&info, 0);
			if (m.size >= (size_t)stride * H) {
				rgb = g_malloc((size_t)W * 3 * H);
				for (int y = 0; y < H; y++)
					memcpy(rgb + (size_t)y * W * 3, m.data + (size_t)y * stride, (size_t)W * 3);
			}
			gst_buffer_unmap(b, &m);
		}
		gst_sample_unref(sample);
	}
	gst_element_set_state(p, GST_STATE_NULL);
	gst_object_unref(sink);
	gst_object_unref(p);
	return rgb;
}

static bool has_frames(struct capture_stream *s, uint64_t n)
{
	uint64_t in = 0;
	capture_stream_counts(s, &in, NULL);
	return in >= n;
}

/* Run a still pattern with the display branch into png; caption may be NULL. */
static uint8_t *render(const char *png, const char *caption, enum config_overlay_position position)
{
	struct capture_params p;
	capture_params_init(&p);
	p.name = "ov";
	p.source = "videotestsrc pattern=smpte is-live=true ! video/x-raw,width=320,height=240,framerate=10/1";
	p.width = 32;
	p.height = 32;
	p.overlay_sink = png;
	p.overlay_font = "Sans 18";
	p.overlay_position = position;
	struct capture_error err;
	struct capture_stream *s = NULL;
	if (capture_stream_create(&p, NULL, NULL, NULL, &s, &err) != 0) {
		fprintf(stderr, "%s\n", err.text);
		return NULL;
	}
	if (caption)
		capture_stream_caption_show(s, caption);
	int64_t end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	while (!has_frames(s, 8) && g_get_monotonic_time() < end) {
		while (g_main_context_iteration(NULL, FALSE))
			;
		g_usleep(10000);
	}
	CHECK(has_frames(s, 8));
	capture_stream_destroy(s); /* stops the pipeline: the PNG is complete */
	uint8_t *rgb = decode_png(png);
	g_unlink(png);
	return rgb;
}

/* Pixels of rows [y0, y1) that differ by more than 24 in some channel. */
static size_t count_changed(const uint8_t *a, const uint8_t *b, int y0, int y1)
{
	size_t n = 0;
	for (int y = y0; y < y1; y++)
		for (int x = 0; x < W; x++) {
			const uint8_t *pa = a + ((size_t)y * W + x) * 3, *pb = b + ((size_t)y * W + x) * 3;
			bool diff = false;
			for (int c = 0; c < 3; c++)
				diff = diff || abs(pa[c] - pb[c]) > 24;
			n += diff;
		}
	return n;
}

static void test_png(const char *dir)
{
	char *png = g_build_filename(dir, "frame.png", NULL);
	uint8_t *plain = render(png, NULL, CONFIG_OVERLAY_BOTTOM);
	/* '&' and '<' are text, not Pango markup. */
	uint8_t *bottom = render(png, "A person & a dog <walk> past a bicycle.", CONFIG_OVERLAY_BOTTOM);
	uint8_t *top = render(png, "A person walks past a parked bicycle.", CONFIG_OVERLAY_TOP);
	CHECK(plain && bottom && top);
	if (plain && bottom && top) {
		size_t band = (size_t)W * (H / 3);
		size_t b_low = count_changed(plain, bottom, 2 * H / 3, H), b_high = count_changed(plain, bottom, 0, H / 3);
		size_t t_low = count_changed(plain, top, 2 * H / 3, H), t_high = count_changed(plain, top, 0, H / 3);
		fprintf(stderr, "changed pixels: bottom caption %zu low / %zu high; top caption %zu low / %zu high "
			"(of %zu)\n", b_low, b_high, t_low, t_high, band);
		/* The shaded box and the text cover far more than 5 % of the band. */
		CHECK(b_low > band / 20);
		CHECK(b_high == 0);
		CHECK(t_high > band / 20);
		CHECK(t_low == 0);
	}
	g_free(plain);
	g_free(bottom);
	g_free(top);
	g_free(png);
}

static void test_font(void)
{
	/* height / 16 pixels, the configured size dropped. */
	char *f = overlay_font_for_height("Sans 18", 720);
	CHECK(strcmp(f, "Sans 45px") == 0);
	g_free(f);
	f = overlay_font_for_height("DejaVu Sans Bold", 480);
	CHECK(strcmp(f, "DejaVu Sans Bold 30px") == 0);
	g_free(f);
	f = overlay_font_for_height("12", 64);
	CHECK(strcmp(f, "Sans 8px") == 0);
	g_free(f);
}

static void test_branch(void)
{
	char *d = overlay_branch_description("fakesink", "ov");
	CHECK(strstr(d, "textoverlay name=ov ") && g_str_has_suffix(d, "! fakesink"));
	g_free(d);
	d = overlay_branch_description("/var/lib/captiond/cam \"0\".mkv", "ov");
	CHECK(g_str_has_suffix(d, "jpegenc ! matroskamux ! filesink location=\"/var/lib/captiond/cam \\\"0\\\".mkv\""));
	g_free(d);
	d = overlay_branch_description("/srv/100%d.png", "ov");
	CHECK(g_str_has_suffix(d, "multifilesink max-files=1 location=\"/srv/100%%d.png\""));
	g_free(d);
}

/* The overlay's own scheduling on the main loop: a second caption waits for
 * the first's reading time (1.5 s for a short one). */
static void test_hold(void)
{
	struct overlay *o = overlay_create(NULL, "Sans", CONFIG_OVERLAY_BOTTOM);
	CHECK(strcmp(overlay_text_shown(o), "") == 0);
	int64_t t0 = g_get_monotonic_time();
	overlay_caption_push(o, "first caption");
	CHECK(strcmp(overlay_text_shown(o), "first caption") == 0);
	overlay_caption_push(o, "second");
	CHECK(strcmp(overlay_text_shown(o), "first caption") == 0);
	while (strcmp(overlay_text_shown(o), "second") != 0 && g_get_monotonic_time() - t0 < 5 * G_USEC_PER_SEC)
		g_main_context_iteration(NULL, TRUE);
	int64_t waited_ms = (g_get_monotonic_time() - t0) / 1000;
	CHECK(strcmp(overlay_text_shown(o), "second") == 0);
	CHECKF(waited_ms >= 1500, "shown after %" PRId64 " ms", waited_ms);
	overlay_destroy(o);
	overlay_destroy(NULL);
}

int main(int argc, char **argv)
{
	gst_init(NULL, NULL);
	if (!gst_element_factory_find("textoverlay") || !gst_element_factory_find("pngenc"))
		check_skip("textoverlay (gstreamer1.0-x) or pngenc (plugins-good) is not installed");
	char *dir = g_dir_make_tmp("test-overlay-XXXXXX", NULL);
	if (!dir)
		check_skip("cannot make a temporary directory");
	test_font();
	test_branch();
	test_hold();
	test_png(dir);
	g_rmdir(dir);
	g_free(dir);
	gst_deinit();
	return check_report();
}
