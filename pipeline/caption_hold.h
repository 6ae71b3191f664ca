/* pipeline/caption_hold.h — when the overlay may show the next caption.
 *
 * A caption stays on screen at least caption_layout_hold_ms() of its
 * characters (17 characters per second, at least 1.5 s) so it can be read.
 * A caption that arrives earlier waits as the one pending caption; a newer
 * one replaces it (latest wins; the replaced one is counted and never shown).
 *
 * The clock is the caller's: every call takes now_ms (any monotonic
 * millisecond clock), so tests drive it with a fake clock and the overlay
 * with g_get_monotonic_time(). No timers here: the caller asks
 * caption_hold_next_ms() when to call caption_hold_poll() again.
 *
 * Threads: one thread at a time (the overlay uses the main loop's).
 * Ownership: texts are copied; returned strings belong to the scheduler and
 * stay valid until the next call that changes it.
 */
#ifndef CAPTIOND_PIPELINE_CAPTION_HOLD_H
#define CAPTIOND_PIPELINE_CAPTION_HOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct caption_hold;

struct caption_hold *caption_hold_create(void);
void caption_hold_destroy(struct caption_hold *hold);

/* Offer a caption (hold_ms: how long it must stay, from
 * caption_layout_hold_ms). Returns true when it is shown now (nothing shown,
 * or the shown caption's hold is over): the caller displays it. Returns false
 * when it became the pending caption. */
bool caption_hold_push(struct caption_hold *hold, const char *text, uint32_t hold_ms, int64_t now_ms);

/* The pending caption when its turn has come (it becomes the shown one), else
 * NULL. */
const char *caption_hold_poll(struct caption_hold *hold, int64_t now_ms);

/* When poll will have something: the shown caption's end of hold while a
 * caption is pending, else -1. */
int64_t caption_hold_next_ms(const struct caption_hold *hold);

/* The caption on screen (NULL before the first) and pending captions that a
 * newer one replaced. */
const char *caption_hold_shown(const struct caption_hold *hold);
uint64_t caption_hold_replaced(const struct caption_hold *hold);

#endif
