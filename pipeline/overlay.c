/* pipeline/overlay.c — textoverlay driven by caption_layout and caption_hold. */
#include "pipeline/overlay.h"

#include <stdbool.h>
#include <string.h>

#include "pipeline/caption_hold.h"
#include "pipeline/caption_layout.h"

/* Font pixels per frame line: two lines plus the box take about 1/6 of it. */
#define OVERLAY_FONT_LINES_PER_PX 16

struct overlay {
	GMainContext *context;
	char *font;                   /* without its size */
	enum config_overlay_position position;
	GstElement *element;          /* textoverlay, reference held; NULL when detached */
	struct caption_hold *hold;
	char *shown;                  /* laid-out text on screen */
	GSource *timer;               /* pending caption's turn */
};

/* A value for the launch syntax; percent_escape doubles '%' for
 * multifilesink, which reads its location as a printf format. */
static char *quote(const char *s, bool percent_escape)
{
	GString *q = g_string_new("\"");
	for (const char *p = s; *p; p++) {
		if (*p == '"' || *p == '\\')
			g_string_append_c(q, '\\');
		if (*p == '%' && percent_escape)
			g_string_append_c(q, '%');
		g_string_append_c(q, *p);
	}
	g_string_append_c(q, '"');
	return g_string_free(q, FALSE);
}

char *overlay_branch_description(const char *sink, const char *element_name)
{
	char *tail;
	if (sink[0] == '/') {
		bool png = g_str_has_suffix(sink, ".png");
		char *loc = quote(sink, png);
		if (png)
			tail = g_strdup_printf("pngenc ! multifilesink max-files=1 location=%s", loc);
		else /* Matroska stays playable when the daemon stops without EOS */
			tail = g_strdup_printf("jpegenc ! matroskamux ! filesink location=%s", loc);
		g_free(loc);
	} else {
		tail = g_strdup(sink);
	}
	/* wrap-mode=none: caption_layout has broken the lines already. */
	char *d = g_strdup_printf("queue leaky=downstream max-size-buffers=2 max-size-bytes=0 max-size-time=0"
				  " ! videoconvert ! textoverlay name=%s wrap-mode=none auto-resize=false"
				  " shaded-background=true shading-value=160 draw-outline=true"
				  " halignment=center line-alignment=center"
				  " ! videoconvert ! %s", element_name, tail);
	g_free(tail);
	return d;
}

/* The description without a trailing size ("Sans Bold 18" -> "Sans Bold"). */
static char *font_without_size(const char *font)
{
	char *f = g_strstrip(g_strdup(font ? font : ""));
	char *last = strrchr(f, ' ');
	const char *token = last ? last + 1 : f;
	char *end = NULL;
	g_ascii_strtod(token, &end);
	if (end != token && (*end == '\0' || strcmp(end, "px") == 0)) {
		if (last)
			*last = '\0';
		else
			*f = '\0';
	}
	g_strstrip(f);
	if (!*f) {
		g_free(f);
		f = g_strdup("Sans");
	}
	return f;
}

char *overlay_font_for_height(const char *font, uint32_t height)
{
	char *family = font_without_size(font);
	uint32_t px = height / OVERLAY_FONT_LINES_PER_PX;
	if (px < 8)
		px = 8;
	char *d = g_strdup_printf("%s %upx", family, px);
	g_free(family);
	return d;
}

struct overlay *overlay_create(GMainContext *context, const char *font,
			       enum config_overlay_position position)
{
	struct overlay *o = g_new0(struct overlay, 1);
	o->context = context ? g_main_context_ref(context) : NULL;
	o->font = font_without_size(font);
	o->position = position;
	o->hold = caption_hold_create();
	o->shown = g_strdup("");
	return o;
}

void overlay_destroy(struct overlay *o)
{
	if (!o)
		return;
	overlay_element_attach(o, NULL);
	if (o->timer) {
		g_source_destroy(o->timer);
		g_source_unref(o->timer);
	}
	caption_hold_destroy(o->hold);
	g_free(o->shown);
	g_free(o->font);
	if (o->context)
		g_main_context_unref(o->context);
	g_free(o);
}

/* Streaming thread: the branch's frame height is known. */
static void on_caps(GstPad *pad, GParamSpec *pspec, gpointer user)
{
	const char *family = user;
	GstCaps *caps = gst_pad_get_current_caps(pad);
	if (!caps)
		return;
	int height = 0;
	if (gst_structure_get_int(gst_caps_get_structure(caps, 0), "height", &height) && height > 0) {
		char *desc = overlay_font_for_height(family, (uint32_t)height);
		GstElement *element = gst_pad_get_parent_element(pad);
		if (element) {
			g_object_set(element, "font-desc", desc, NULL);
			gst_object_unref(element);
		}
		g_free(desc);
	}
	gst_caps_unref(caps);
}

/* textoverlay's text is Pango markup: a caption's '&' or '<' must be text. */
static void apply(struct overlay *o)
{
	if (!o->element)
		return;
	char *markup = g_markup_escape_text(o->shown, -1);
	g_object_set(o->element, "text", markup, NULL);
	g_free(markup);
}

void overlay_element_attach(struct overlay *o, GstElement *element)
{
	if (o->element)
		gst_object_unref(o->element);
	o->element = element ? gst_object_ref(element) : NULL;
	if (!element)
		return;
	/* valignment: 1 bottom, 2 top (GstBaseTextOverlayVAlign); the size is
	 * replaced when the branch's caps are known. */
	char *desc = overlay_font_for_height(o->font, 480);
	g_object_set(element, "valignment", o->position == CONFIG_OVERLAY_TOP ? 2 : 1, "font-desc", desc, NULL);
	g_free(desc);
	GstPad *pad = gst_element_get_static_pad(element, "video_sink");
	if (pad) {
		g_signal_connect_data(pad, "notify::caps", G_CALLBACK(on_caps), g_strdup(o->font),
				      (GClosureNotify)(void (*)(void))g_free, 0);
		gst_object_unref(pad);
	}
	apply(o);
}

static void show(struct overlay *o, const char *text)
{
	g_free(o->shown);
	o->shown = g_strdup(text);
	apply(o);
}

static gboolean on_timer(gpointer user);

/* A timer for the pending caption's turn, if one is pending. */
static void schedule(struct overlay *o, int64_t now_ms)
{
	if (o->timer) {
		g_source_destroy(o->timer);
		g_clear_pointer(&o->timer, g_source_unref);
	}
	int64_t next = caption_hold_next_ms(o->hold);
	if (next < 0)
		return;
	o->timer = g_timeout_source_new(next > now_ms ? (guint)(next - now_ms) : 0);
	g_source_set_callback(o->timer, on_timer, o, NULL);
	g_source_attach(o->timer, o->context);
}

static gboolean on_timer(gpointer user)
{
	struct overlay *o = user;
	int64_t now_ms = g_get_monotonic_time() / 1000;
	const char *next = caption_hold_poll(o->hold, now_ms);
	if (next)
		show(o, next);
	schedule(o, now_ms); /* destroys this source: returning REMOVE is then harmless */
	return G_SOURCE_REMOVE;
}

void overlay_caption_push(struct overlay *o, const char *text)
{
	struct caption_layout_result lay;
	if (caption_layout_format(text ? text : "", CAPTION_LAYOUT_MAX_LINES, CAPTION_LAYOUT_MAX_CHARS,
				  &lay) != 0)
		return;
	int64_t now_ms = g_get_monotonic_time() / 1000;
	if (caption_hold_push(o->hold, lay.text, caption_layout_hold_ms(lay.n_chars), now_ms))
		show(o, lay.text);
	schedule(o, now_ms);
	g_free(lay.text);
}

const char *overlay_text_shown(const struct overlay *o)
{
	return o->shown;
}
