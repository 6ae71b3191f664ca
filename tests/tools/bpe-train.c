/* tests/tools/bpe-train.c — deterministic byte-level BPE training (see
 * bpe-train.h). Pair counts are updated incrementally; a round scans the
 * pair table: ~0.1 s for the tiny vocabulary's 1291 merges. */
#include "tests/tools/bpe-train.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

gunichar bpe_byte_to_unicode(uint8_t b)
{
	if ((b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae)
		return b;
	/* The 68 others, in byte order, take U+0100 upward. */
	gunichar next = 0x100;
	for (unsigned c = 0; c < b; c++)
		if (!((c >= 0x21 && c <= 0x7e) || (c >= 0xa1 && c <= 0xac) || c >= 0xae))
			next++;
	return next;
}

static gboolean is_letter(gunichar c)
{
	return g_unichar_isalpha(c);
}

static gboolean is_number(gunichar c)
{
	GUnicodeType t = g_unichar_type(c);
	return t == G_UNICODE_DECIMAL_NUMBER || t == G_UNICODE_LETTER_NUMBER ||
	       t == G_UNICODE_OTHER_NUMBER;
}

static gboolean is_newline(gunichar c)
{
	return c == '\r' || c == '\n';
}

/* Length in code points of the piece starting at cp[i] (the rules of spec
 * §6.3 without the contractions). */
static size_t piece_len(const gunichar *cp, size_t n, size_t i)
{
	size_t j = i;
	gunichar c = cp[i];
	if (!is_newline(c) && !is_number(c) && (is_letter(c) || (i + 1 < n && is_letter(cp[i + 1])))) {
		j++;
		while (j < n && is_letter(cp[j]))
			j++;
		return j - i;
	}
	if (is_number(c)) {
		while (j < n && j - i < 3 && is_number(cp[j]))
			j++;
		return j - i;
	}
	size_t k = i + (c == ' ' ? 1 : 0);
	if (k < n && !g_unichar_isspace(cp[k]) && !is_letter(cp[k]) && !is_number(cp[k])) {
		while (k < n && !g_unichar_isspace(cp[k]) && !is_letter(cp[k]) && !is_number(cp[k]))
			k++;
		while (k < n && is_newline(cp[k]))
			k++;
		return k - i;
	}
	while (j < n && g_unichar_isspace(cp[j]))
		j++;
	size_t run = j - i;
	if (run == 0)
		return 1;
	if (run >= 2 && j < n)
		return run - 1; /* the last space goes with the next word */
	return run;
}

struct word {
	GArray *sym; /* guint32 token ids */
	uint64_t count;
};

/* Cut one line into pieces and count each piece's byte-symbol string. */
static void count_pieces(const char *line, GHashTable *pieces)
{
	glong n = 0;
	gunichar *cp = g_utf8_to_ucs4_fast(line, -1, &n);
	for (size_t i = 0; i < (size_t)n;) {
		size_t len = piece_len(cp, (size_t)n, i);
		gchar *utf8 = g_ucs4_to_utf8(cp + i, (glong)len, NULL, NULL, NULL);
		gpointer old = g_hash_table_lookup(pieces, utf8);
		g_hash_table_replace(pieces, utf8, GSIZE_TO_POINTER(GPOINTER_TO_SIZE(old) + 1));
		i += len;
	}
	g_free(cp);
}

static gint cmp_str(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

struct pair_count {
	gint64 key; /* left id << 32 | right id; first, for g_int64_hash */
	guint32 a, b;
	uint64_t count;
};

static bool word_has_pair(const struct word *w, guint32 a, guint32 b)
{
	for (guint j = 0; j + 1 < w->sym->len; j++)
		if (g_array_index(w->sym, guint32, j) == a && g_array_index(w->sym, guint32, j + 1) == b)
			return true;
	return false;
}

/* Adds (sign 1) or removes (sign −1) the adjacent pairs of w, weighted by
 * its count. Entries that reach 0 stay in the table, unused. */
static void word_pairs_add(GHashTable *pairs, const struct word *w, int sign)
{
	for (guint j = 0; j + 1 < w->sym->len; j++) {
		guint32 a = g_array_index(w->sym, guint32, j), b = g_array_index(w->sym, guint32, j + 1);
		gint64 pk = (gint64)a << 32 | b;
		struct pair_count *pc = g_hash_table_lookup(pairs, &pk);
		if (!pc) {
			pc = g_new0(struct pair_count, 1);
			*pc = (struct pair_count){ pk, a, b, 0 };
			g_hash_table_add(pairs, pc);
		}
		if (sign > 0)
			pc->count += w->count;
		else
			pc->count -= w->count;
	}
}

static void add_token(GPtrArray *tokens, GHashTable *ids, char *text)
{
	g_hash_table_insert(ids, text, GUINT_TO_POINTER(tokens->len));
	g_ptr_array_add(tokens, text);
}

int bpe_train(const char *const *lines, size_t n, uint32_t max_tokens, GPtrArray **tokens_out,
	      GPtrArray **merges_out)
{
	if (max_tokens < 256)
		return -EINVAL;
	GPtrArray *tokens = g_ptr_array_new_with_free_func(g_free);
	GPtrArray *merges = g_ptr_array_new_with_free_func(g_free);
	GHashTable *ids = g_hash_table_new(g_str_hash, g_str_equal); /* text -> id, borrowed keys */
	for (unsigned b = 0; b < 256; b++) {
		char buf[8];
		buf[g_unichar_to_utf8(bpe_byte_to_unicode((uint8_t)b), buf)] = 0;
		add_token(tokens, ids, g_strdup(buf));
	}

	GHashTable *pieces = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	for (size_t i = 0; i < n; i++)
		count_pieces(lines[i], pieces);
	/* Words in sorted order so nothing depends on hash-table order. */
	GPtrArray *keys = g_ptr_array_new();
	GHashTableIter it;
	gpointer key;
	g_hash_table_iter_init(&it, pieces);
	while (g_hash_table_iter_next(&it, &key, NULL))
		g_ptr_array_add(keys, key);
	g_ptr_array_sort(keys, cmp_str);
	GArray *words = g_array_new(FALSE, FALSE, sizeof(struct word));
	for (guint i = 0; i < keys->len; i++) {
		const guchar *p = keys->pdata[i];
		struct word w = { g_array_new(FALSE, FALSE, sizeof(guint32)),
				  GPOINTER_TO_SIZE(g_hash_table_lookup(pieces, p)) };
		for (; *p; p++) {
			guint32 id = *p; /* byte b is token b */
			g_array_append_val(w.sym, id);
		}
		g_array_append_val(words, w);
	}
	g_ptr_array_unref(keys);
	g_hash_table_destroy(pieces);

	/* Pair counts are kept up to date as words change, so a round costs a
	 * scan of the pair table plus the words holding the merged pair. */
	GHashTable *pairs = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
	GHashTable *merge_set = g_hash_table_new(g_str_hash, g_str_equal); /* borrowed */
	for (guint i = 0; i < words->len; i++)
		word_pairs_add(pairs, &g_array_index(words, struct word, i), 1);
	while (tokens->len < max_tokens) {
		/* Best pair: most frequent, ties to the lowest (left, right) ids,
		 * a total order, so hash-table order does not matter. */
		struct pair_count best = { 0, 0, 0, 0 };
		GHashTableIter pi;
		gpointer pv;
		g_hash_table_iter_init(&pi, pairs);
		while (g_hash_table_iter_next(&pi, &pv, NULL)) {
			const struct pair_count *pc = pv;
			if (pc->count > best.count ||
			    (pc->count == best.count && pc->count > 0 && pc->key < best.key))
				best = *pc;
		}
		if (best.count == 0)
			break;
		const char *left = tokens->pdata[best.a], *right = tokens->pdata[best.b];
		char *joined = g_strconcat(left, right, NULL);
		gpointer found = NULL;
		guint32 new_id;
		if (g_hash_table_lookup_extended(ids, joined, NULL, &found)) {
			new_id = GPOINTER_TO_UINT(found); /* reached before by another path */
			g_free(joined);
		} else {
			new_id = tokens->len;
			add_token(tokens, ids, joined);
		}
		/* A merge that produced an existing token can bring a pair back
		 * that was merged before: apply it again but list it once. */
		char *merge = g_strdup_printf("%s %s", left, right);
		if (g_hash_table_contains(merge_set, merge)) {
			g_free(merge);
		} else {
			g_hash_table_add(merge_set, merge);
			g_ptr_array_add(merges, merge);
		}
		for (guint i = 0; i < words->len; i++) {
			struct word *w = &g_array_index(words, struct word, i);
			if (!word_has_pair(w, best.a, best.b))
				continue;
			word_pairs_add(pairs, w, -1);
			GArray *sym = w->sym;
			guint out = 0;
			for (guint j = 0; j < sym->len; j++) {
				guint32 x = g_array_index(sym, guint32, j);
				if (j + 1 < sym->len && x == best.a && g_array_index(sym, guint32, j + 1) == best.b) {
					x = new_id;
					j++;
				}
				g_array_index(sym, guint32, out++) = x;
			}
			g_array_set_size(sym, out);
			word_pairs_add(pairs, w, 1);
		}
	}

	g_hash_table_destroy(merge_set);
	g_hash_table_destroy(pairs);
	for (guint i = 0; i < words->len; i++)
		g_array_free(g_array_index(words, struct word, i).sym, TRUE);
	g_array_free(words, TRUE);
	g_hash_table_destroy(ids);
	*tokens_out = tokens;
	*merges_out = merges;
	return 0;
}
