/* pipeline/webvtt.h — a stream's captions recorded as a WebVTT file.
 *
 * Cue times are the captioned frames' stream times (capture_frame's
 * stream_time_ns: nanoseconds since the stream started, restarts included).
 * A cue ends when the next caption starts or when its hold time
 * (caption_layout_hold_ms) is over, whichever comes first, so cues never
 * overlap. A cue is written when its end is known: at the next caption or at
 * webvtt_writer_destroy/_flush (which end it after its hold time).
 *
 * Text is escaped as the WebVTT cue-text syntax requires: '&' '<' '>' become
 * "&amp;" "&lt;" "&gt;" (so "-->" cannot appear), line breaks and other control
 * characters become spaces (a blank line would end the cue), bytes that are
 * not UTF-8 become U+FFFD.
 *
 * Times going backwards (a clock reset) are clamped: a cue never starts
 * before the previous cue ends (which then lasts its hold time), and lasts
 * at least 1 ms.
 *
 * Threads: one thread at a time (the daemon's main loop).
 */
#ifndef CAPTIOND_PIPELINE_WEBVTT_H
#define CAPTIOND_PIPELINE_WEBVTT_H

#include <stddef.h>
#include <stdint.h>

struct webvtt_writer;

/* Create (truncate) the file at path and write the header. Returns 0 and
 * *out, or a negative errno from fopen/fwrite. */
int webvtt_writer_create(const char *path, struct webvtt_writer **out);

/* Record a caption of the frame at stream_time_ns. Returns 0 or a negative
 * errno when writing the previous cue failed. */
int webvtt_writer_add(struct webvtt_writer *writer, uint64_t stream_time_ns, const char *text);

/* Write the pending cue (ending after its hold time) and flush to the file.
 * Returns 0 or a negative errno. */
int webvtt_writer_flush(struct webvtt_writer *writer);

/* Flush and close; NULL-safe. Returns 0 or the first write error. */
int webvtt_writer_destroy(struct webvtt_writer *writer);

/* The escaped cue text of text (g_free it). */
char *webvtt_text_escape(const char *text);

/* "hh:mm:ss.ttt" of a time in ms into buf (at least 32 bytes). */
void webvtt_timestamp_format(uint64_t ms, char *buf, size_t size);

#endif
