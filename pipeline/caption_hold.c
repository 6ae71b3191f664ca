/* pipeline/caption_hold.c — one shown caption, at most one pending. */
#include "pipeline/caption_hold.h"

#include <glib.h>

struct caption_hold {
	char *shown;
	int64_t shown_until_ms;  /* the shown caption's hold ends */
	char *pending;
	uint32_t pending_hold_ms;
	uint64_t replaced;
};

struct caption_hold *caption_hold_create(void)
{
	return g_new0(struct caption_hold, 1);
}

void caption_hold_destroy(struct caption_hold *hold)
{
	if (!hold)
		return;
	g_free(hold->shown);
	g_free(hold->pending);
	g_free(hold);
}

static void show(struct caption_hold *hold, char *text, uint32_t hold_ms, int64_t now_ms)
{
	g_free(hold->shown);
	hold->shown = text;
	hold->shown_until_ms = now_ms + hold_ms;
}

bool caption_hold_push(struct caption_hold *hold, const char *text, uint32_t hold_ms, int64_t now_ms)
{
	if (!hold->shown || now_ms >= hold->shown_until_ms) {
		/* A pending caption is older than this one: it is never shown. */
		if (hold->pending) {
			g_clear_pointer(&hold->pending, g_free);
			hold->replaced++;
		}
		show(hold, g_strdup(text), hold_ms, now_ms);
		return true;
	}
	if (hold->pending)
		hold->replaced++;
	g_free(hold->pending);
	hold->pending = g_strdup(text);
	hold->pending_hold_ms = hold_ms;
	return false;
}

const char *caption_hold_poll(struct caption_hold *hold, int64_t now_ms)
{
	if (!hold->pending || now_ms < hold->shown_until_ms)
		return NULL;
	show(hold, hold->pending, hold->pending_hold_ms, now_ms);
	hold->pending = NULL;
	return hold->shown;
}

int64_t caption_hold_next_ms(const struct caption_hold *hold)
{
	return hold->pending ? hold->shown_until_ms : -1;
}

const char *caption_hold_shown(const struct caption_hold *hold)
{
	return hold->shown;
}

uint64_t caption_hold_replaced(const struct caption_hold *hold)
{
	return hold->replaced;
}
