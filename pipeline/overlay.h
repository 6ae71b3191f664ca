/* pipeline/overlay.h — the caption drawn on a stream's display branch, for
 * people watching the video (accessibility).
 *
 * The branch: queue (leaky, 2 buffers: a slow display never holds up the
 * frames for captioning) ! videoconvert ! textoverlay ! videoconvert ! SINK.
 * The sink setting is an element description or a file:
 *   "autovideosink", "kmssink", "waylandsink", "fakesink", ... (any
 *                          description starting with a letter, used as written)
 *   "/path/latest.png"     the latest frame as a PNG file (pngenc !
 *                          multifilesink max-files=1): a still for a web page
 *   "/path/other.mkv"      Motion-JPEG in Matroska (jpegenc ! matroskamux !
 *                          filesink), playable even when the daemon stops abruptly
 *
 * Drawing: centred, white with a dark outline on a shaded box for contrast;
 * the font family and style come from overlay.font, its size from the frame:
 * frame height / 16 pixels (45 px at 720 lines), set when the branch's caps
 * are known. The text is laid out by caption_layout (two lines of at most 42
 * characters) and each caption stays at least its reading time
 * (caption_hold) before the next replaces it; textoverlay does no wrapping.
 * The text is escaped for Pango (textoverlay reads markup), so a caption's
 * '<' and '&' are shown as written.
 *
 * Threads: everything on the thread running the GMainContext given at create,
 * except that the font size is set from the streaming thread when caps change.
 */
#ifndef CAPTIOND_PIPELINE_OVERLAY_H
#define CAPTIOND_PIPELINE_OVERLAY_H

#include <stdint.h>

#include <glib.h>
#include <gst/gst.h>

#include "daemon/config.h"

/* The launch fragment of the display branch, to follow a tee pad; the
 * textoverlay element is named element_name. sink as above (non-empty).
 * Returns the fragment (g_free it). */
char *overlay_branch_description(const char *sink, const char *element_name);

struct overlay;

/* font: a Pango description whose size, if any, is ignored ("Sans 18",
 * "DejaVu Sans Bold"). context NULL: the global default context. */
struct overlay *overlay_create(GMainContext *context, const char *font,
			       enum config_overlay_position position);
void overlay_destroy(struct overlay *overlay);

/* Use this textoverlay element (the pipeline was (re)built; a reference is
 * taken) or none (NULL, before the pipeline is torn down). The caption on
 * screen is applied to it. */
void overlay_element_attach(struct overlay *overlay, GstElement *textoverlay);

/* A new caption: shown now, or when the one on screen has been up for its
 * reading time (latest pending wins). */
void overlay_caption_push(struct overlay *overlay, const char *text);

/* The laid-out text on screen now ("" before the first caption); owned by
 * the overlay. */
const char *overlay_text_shown(const struct overlay *overlay);

/* "Family Style Npx" for a frame of height pixels (g_free it). */
char *overlay_font_for_height(const char *font, uint32_t height);

#endif
