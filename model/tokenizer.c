/* model/tokenizer.c — byte-level BPE from GGUF (see tokenizer.h). */
#include "model/tokenizer.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "model/gguf.h"
#include "model/pretokenize.h"

/* Pieces up to this many bytes are cached (word → ids); the cache is
 * emptied when it holds this many entries, so memory stays bounded. */
#define CACHE_MAX_PIECE 64
#define CACHE_MAX_ENTRIES 65536

struct token {
	const char *text; /* in tok->arena, NUL-terminated (may hold NULs itself) */
	uint32_t len;
	uint8_t type; /* enum tokenizer_token_type */
};

struct merge {
	gint64 key;     /* left id << 32 | right id: GHashTable key */
	int32_t rank;   /* index in tokenizer.ggml.merges */
	int32_t result; /* id of left text + right text */
};

/* Added tokens whose text starts with one byte, longest first. */
struct added_set {
	GArray *by_byte[256]; /* int32_t ids, or NULL */
};

struct tokenizer {
	enum pretok_kind pre;
	bool ignore_merges; /* a piece that is a token is emitted whole (spec §6.2.4) */
	uint32_t n_tokens;
	struct token *tokens;
	char *arena;
	GHashTable *by_text; /* struct token * → id + 1 */
	struct merge *merges;
	GHashTable *merge_of; /* gint64 pair key → struct merge * */
	int32_t byte_token[256]; /* single-byte token of each byte, -1 if none */
	uint16_t byte_cp[256];   /* GPT-2 byte → code point (spec §6.4) */
	char byte_utf8[256][2];  /* that code point as UTF-8 (all are 1 or 2 bytes) */
	uint8_t byte_utf8_len[256];
	int16_t cp_byte[0x144];  /* and back; -1 for code points no byte maps to */
	struct added_set control, user;
	int32_t bos, eos;
	bool add_bos;

	GMutex cache_lock;
	GHashTable *cache; /* struct token (piece bytes, owned) → int32_t[1 + n] (n, ids) */
};

static void set_err(char *buf, size_t size, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void set_err(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	if (!buf || !size)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

static guint token_hash(gconstpointer p)
{
	const struct token *t = p;
	guint h = 2166136261u; /* FNV-1a */
	for (uint32_t i = 0; i < t->len; i++)
		h = (h ^ (uint8_t)t->text[i]) * 16777619u;
	return h;
}

static gboolean token_equal(gconstpointer a, gconstpointer b)
{
	const struct token *x = a, *y = b;
	return x->len == y->len && !memcmp(x->text, y->text, x->len);
}

int32_t tokenizer_find(const struct tokenizer *tok, const char *text, size_t len)
{
	if (len > UINT32_MAX)
		return -1;
	struct token key = { .text = text, .len = (uint32_t)len };
	return GPOINTER_TO_INT(g_hash_table_lookup(tok->by_text, &key)) - 1;
}

/* GPT-2's printable-byte map: bytes that are printable Latin-1 map to
 * themselves, the other 68 to U+0100.. in byte order. */
static void init_byte_map(struct tokenizer *tok)
{
	uint16_t next = 0x100;
	for (int i = 0; i < 0x144; i++)
		tok->cp_byte[i] = -1;
	for (int b = 0; b < 256; b++) {
		bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
		tok->byte_cp[b] = printable ? (uint16_t)b : next++;
		tok->cp_byte[tok->byte_cp[b]] = (int16_t)b;
		char buf[6];
		int n = g_unichar_to_utf8(tok->byte_cp[b], buf); /* < U+0800: 1 or 2 bytes */
		memcpy(tok->byte_utf8[b], buf, 2);
		tok->byte_utf8_len[b] = (uint8_t)n;
	}
}

/* Append the byte-level form of raw bytes (each byte → one code point). */
static void append_byte_level(const struct tokenizer *tok, const char *s, size_t n, GString *out)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t b = (uint8_t)s[i];
		g_string_append_len(out, tok->byte_utf8[b], tok->byte_utf8_len[b]);
	}
}

static gint cmp_len_desc(gconstpointer a, gconstpointer b, gpointer data)
{
	const struct tokenizer *tok = data;
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	if (tok->tokens[x].len != tok->tokens[y].len)
		return tok->tokens[x].len > tok->tokens[y].len ? -1 : 1;
	return x < y ? -1 : x > y;
}

static void added_set_add(struct added_set *set, const struct token *t, int32_t id)
{
	uint8_t b = (uint8_t)t->text[0];
	if (!set->by_byte[b])
		set->by_byte[b] = g_array_new(FALSE, FALSE, sizeof(int32_t));
	g_array_append_val(set->by_byte[b], id);
}

static void added_set_sort(struct added_set *set, struct tokenizer *tok)
{
	for (int b = 0; b < 256; b++)
		if (set->by_byte[b])
			g_array_sort_with_data(set->by_byte[b], cmp_len_desc, tok);
}

static void added_set_free(struct added_set *set)
{
	for (int b = 0; b < 256; b++)
		if (set->by_byte[b])
			g_array_free(set->by_byte[b], TRUE);
}

static int load_tokens(struct tokenizer *tok, const struct gguf_file *f, char *eb, size_t es)
{
	struct gguf_array toks, types;
	int ret = gguf_get_array(f, "tokenizer.ggml.tokens", &toks);
	if (ret < 0 || toks.type != GGUF_TYPE_STRING) {
		set_err(eb, es, "tokenizer.ggml.tokens: %s", ret < 0 ? "missing" : "not a string array");
		return ret == -ENOENT || ret == 0 ? -EBADMSG : ret;
	}
	if (toks.count == 0 || toks.count > INT32_MAX - 1) {
		set_err(eb, es, "tokenizer.ggml.tokens: %llu tokens", (unsigned long long)toks.count);
		return -EBADMSG;
	}
	bool have_types = gguf_get_array(f, "tokenizer.ggml.token_type", &types) == 0;
	if (have_types && types.count != toks.count) {
		set_err(eb, es, "tokenizer.ggml.token_type has %llu entries for %llu tokens",
			(unsigned long long)types.count, (unsigned long long)toks.count);
		return -EBADMSG;
	}
	tok->n_tokens = (uint32_t)toks.count;
	size_t total = 0;
	for (uint64_t i = 0; i < toks.count; i++) {
		struct gguf_str s = gguf_array_string(&toks, i);
		/* Each string lies inside the file, so the sum cannot wrap; check anyway. */
		if (s.len > UINT32_MAX || total > SIZE_MAX - s.len - 1) {
			set_err(eb, es, "tokenizer.ggml.tokens[%llu]: too long", (unsigned long long)i);
			return -EBADMSG;
		}
		total += s.len + 1;
	}
	tok->tokens = g_try_new0(struct token, toks.count);
	tok->arena = g_try_malloc(total);
	if (!tok->tokens || !tok->arena)
		return -ENOMEM;
	char *p = tok->arena;
	for (uint32_t i = 0; i < tok->n_tokens; i++) {
		struct gguf_str s = gguf_array_string(&toks, i);
		int64_t type = TOKENIZER_TOKEN_NORMAL;
		if (have_types && (gguf_array_int(&types, i, &type) < 0 || type < 0 || type > 6)) {
			set_err(eb, es, "tokenizer.ggml.token_type[%u]: not a token type", i);
			return -EBADMSG;
		}
		memcpy(p, s.ptr, s.len);
		p[s.len] = '\0';
		tok->tokens[i] = (struct token){ .text = p, .len = (uint32_t)s.len, .type = (uint8_t)type };
		p += s.len + 1;
		/* Later duplicates win, as in llama.cpp's token_to_id. */
		g_hash_table_insert(tok->by_text, &tok->tokens[i], GINT_TO_POINTER((int)i + 1));
		if (s.len == 0)
			continue;
		if (type == TOKENIZER_TOKEN_CONTROL)
			added_set_add(&tok->control, &tok->tokens[i], (int32_t)i);
		else if (type == TOKENIZER_TOKEN_USER_DEFINED)
			added_set_add(&tok->user, &tok->tokens[i], (int32_t)i);
	}
	added_set_sort(&tok->control, tok);
	added_set_sort(&tok->user, tok);
	return 0;
}

static int load_merges(struct tokenizer *tok, const struct gguf_file *f, char *eb, size_t es)
{
	struct gguf_array m;
	int ret = gguf_get_array(f, "tokenizer.ggml.merges", &m);
	if (ret == -ENOENT)
		return 0; /* no merges: every piece is bytes (or a whole token) */
	if (ret < 0 || m.type != GGUF_TYPE_STRING || m.count > INT32_MAX) {
		set_err(eb, es, "tokenizer.ggml.merges: not a string array");
		return -EBADMSG;
	}
	tok->merges = g_try_new(struct merge, m.count ? m.count : 1);
	if (!tok->merges)
		return -ENOMEM;
	GString *joined = g_string_new(NULL);
	for (uint64_t r = 0; r < m.count; r++) {
		struct gguf_str s = gguf_array_string(&m, r);
		/* "A B": split at the first space after position 0 (spec §6.1). */
		const char *sp = s.len > 1 ? memchr(s.ptr + 1, ' ', s.len - 1) : NULL;
		if (!sp)
			continue;
		size_t ll = (size_t)(sp - s.ptr), rl = s.len - ll - 1;
		int32_t a = tokenizer_find(tok, s.ptr, ll), b = tokenizer_find(tok, sp + 1, rl);
		g_string_truncate(joined, 0);
		g_string_append_len(joined, s.ptr, (gssize)ll);
		g_string_append_len(joined, sp + 1, (gssize)rl);
		int32_t c = tokenizer_find(tok, joined->str, joined->len);
		/* A merge whose parts or result are not tokens can never apply (HF
		 * refuses such a file; llama.cpp ignores the merge): skip it. */
		if (a < 0 || b < 0 || c < 0)
			continue;
		struct merge *mg = &tok->merges[r];
		*mg = (struct merge){ .key = (gint64)((uint64_t)a << 32 | (uint32_t)b), .rank = (int32_t)r, .result = c };
		if (!g_hash_table_contains(tok->merge_of, &mg->key)) /* lowest rank wins */
			g_hash_table_insert(tok->merge_of, &mg->key, mg);
	}
	g_string_free(joined, TRUE);
	return 0;
}

static int get_id(const struct gguf_file *f, const char *key, uint32_t n, int32_t *out, char *eb, size_t es)
{
	uint32_t v;
	int ret = gguf_get_u32(f, key, &v);
	*out = -1;
	if (ret == -ENOENT)
		return 0;
	if (ret < 0 || v >= n) {
		set_err(eb, es, "%s: not a token id", key);
		return -EBADMSG;
	}
	*out = (int32_t)v;
	return 0;
}

static void cache_value_free(gpointer p)
{
	g_free(p);
}

/* A cache key: a struct token whose text is allocated with it. */
static void cache_key_free(gpointer p)
{
	g_free(p);
}

static struct token *cache_key_new(const char *s, size_t n)
{
	struct token *k = g_malloc(sizeof(*k) + n);
	char *text = (char *)(k + 1);
	memcpy(text, s, n);
	*k = (struct token){ .text = text, .len = (uint32_t)n };
	return k;
}

int tokenizer_create_from_gguf(const struct gguf_file *f, struct tokenizer **out, char *eb, size_t es)
{
	struct gguf_str model, pre;
	struct tokenizer *tok;
	int ret;

	*out = NULL;
	if (gguf_get_str(f, "tokenizer.ggml.model", &model) < 0 || model.len != 4 || memcmp(model.ptr, "gpt2", 4)) {
		set_err(eb, es, "tokenizer.ggml.model: only \"gpt2\" (byte-level BPE) is supported");
		return -ENOTSUP;
	}
	if (gguf_get_str(f, "tokenizer.ggml.pre", &pre) < 0) {
		set_err(eb, es, "tokenizer.ggml.pre: missing (supported: lfm2, llama-bpe, gpt-2)");
		return -ENOTSUP;
	}
	tok = g_new0(struct tokenizer, 1);
	g_mutex_init(&tok->cache_lock);
	tok->by_text = g_hash_table_new(token_hash, token_equal);
	tok->merge_of = g_hash_table_new(g_int64_hash, g_int64_equal);
	tok->cache = g_hash_table_new_full(token_hash, token_equal, cache_key_free, cache_value_free);
	init_byte_map(tok);

#define PRE_IS(s) (pre.len == strlen(s) && !memcmp(pre.ptr, s, pre.len))
	if (PRE_IS("lfm2") || PRE_IS("llama-bpe")) {
		tok->pre = PRETOK_LLAMA3;
		tok->ignore_merges = true;
	} else if (PRE_IS("gpt-2")) {
		tok->pre = PRETOK_GPT2;
	} else {
		set_err(eb, es, "tokenizer.ggml.pre \"%.*s\" is not supported (supported: lfm2, llama-bpe, gpt-2)",
			(int)(pre.len > 64 ? 64 : pre.len), pre.ptr);
		ret = -ENOTSUP;
		goto fail;
	}
#undef PRE_IS

	if ((ret = load_tokens(tok, f, eb, es)) < 0 || (ret = load_merges(tok, f, eb, es)) < 0)
		goto fail;
	for (int b = 0; b < 256; b++) {
		char buf[4];
		int n = g_unichar_to_utf8(tok->byte_cp[b], buf);
		tok->byte_token[b] = tokenizer_find(tok, buf, (size_t)n);
	}
	if ((ret = get_id(f, "tokenizer.ggml.bos_token_id", tok->n_tokens, &tok->bos, eb, es)) < 0 ||
	    (ret = get_id(f, "tokenizer.ggml.eos_token_id", tok->n_tokens, &tok->eos, eb, es)) < 0)
		goto fail;
	bool add_bos = false;
	if (gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &add_bos) == 0 && add_bos && tok->bos < 0) {
		set_err(eb, es, "tokenizer.ggml.add_bos_token is set but there is no bos_token_id");
		ret = -EBADMSG;
		goto fail;
	}
	tok->add_bos = add_bos;
	*out = tok;
	return 0;
fail:
	tokenizer_destroy(tok);
	return ret;
}

void tokenizer_destroy(struct tokenizer *tok)
{
	if (!tok)
		return;
	g_hash_table_destroy(tok->cache);
	g_mutex_clear(&tok->cache_lock);
	g_hash_table_destroy(tok->merge_of);
	g_hash_table_destroy(tok->by_text);
	added_set_free(&tok->control);
	added_set_free(&tok->user);
	g_free(tok->merges);
	g_free(tok->tokens);
	g_free(tok->arena);
	g_free(tok);
}

uint32_t tokenizer_vocab_size(const struct tokenizer *tok)
{
	return tok->n_tokens;
}

int32_t tokenizer_bos(const struct tokenizer *tok)
{
	return tok->bos;
}

int32_t tokenizer_eos(const struct tokenizer *tok)
{
	return tok->eos;
}

unsigned tokenizer_default_flags(const struct tokenizer *tok)
{
	return TOKENIZER_PARSE_SPECIAL | (tok->add_bos ? TOKENIZER_ADD_BOS : 0);
}

int tokenizer_token(const struct tokenizer *tok, int32_t id, enum tokenizer_token_type *type,
		    const char **text, size_t *len)
{
	if (id < 0 || (uint32_t)id >= tok->n_tokens)
		return -EINVAL;
	if (type)
		*type = (enum tokenizer_token_type)tok->tokens[id].type;
	if (text)
		*text = tok->tokens[id].text;
	if (len)
		*len = tok->tokens[id].len;
	return 0;
}

/* ---- BPE ---------------------------------------------------------------- */

struct bpe_cand {
	int32_t rank;
	int32_t left;  /* symbol index: the original byte position, so lower = further left */
	int32_t lid, rid;
};

struct bpe_work {
	int32_t *id, *prev, *next;
	struct bpe_cand *heap;
	size_t n_heap;
};

static bool cand_less(const struct bpe_cand *a, const struct bpe_cand *b)
{
	return a->rank != b->rank ? a->rank < b->rank : a->left < b->left;
}

static void heap_push(struct bpe_work *w, struct bpe_cand c)
{
	size_t i = w->n_heap++;
	while (i > 0 && cand_less(&c, &w->heap[(i - 1) / 2])) {
		w->heap[i] = w->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	w->heap[i] = c;
}

static struct bpe_cand heap_pop(struct bpe_work *w)
{
	struct bpe_cand top = w->heap[0], last = w->heap[--w->n_heap];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= w->n_heap)
			break;
		if (c + 1 < w->n_heap && cand_less(&w->heap[c + 1], &w->heap[c]))
			c++;
		if (!cand_less(&w->heap[c], &last))
			break;
		w->heap[i] = w->heap[c];
		i = c;
	}
	if (w->n_heap)
		w->heap[i] = last;
	return top;
}

static void try_pair(const struct tokenizer *tok, struct bpe_work *w, int32_t left)
{
	int32_t right = w->next[left];
	if (left < 0 || right < 0 || w->id[left] < 0 || w->id[right] < 0)
		return;
	gint64 key = (gint64)((uint64_t)w->id[left] << 32 | (uint32_t)w->id[right]);
	const struct merge *m = g_hash_table_lookup(tok->merge_of, &key);
	if (m)
		heap_push(w, (struct bpe_cand){ m->rank, left, w->id[left], w->id[right] });
}

/* BPE over the bytes of one piece: start from single-byte tokens, merge the
 * lowest-ranked adjacent pair (leftmost on ties) until none applies. Each
 * merge removes one symbol and adds at most two candidates, so the heap never
 * holds more than 3n entries: O(n log n). */
static int bpe_piece(const struct tokenizer *tok, const char *s, size_t n, GArray *ids)
{
	struct bpe_work w = { 0 };
	int ret = 0;

	if (n == 0)
		return 0;
	w.id = g_try_new(int32_t, n);
	w.prev = g_try_new(int32_t, n);
	w.next = g_try_new(int32_t, n);
	w.heap = g_try_new(struct bpe_cand, 3 * n);
	if (!w.id || !w.prev || !w.next || !w.heap) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		w.id[i] = tok->byte_token[(uint8_t)s[i]];
		w.prev[i] = (int32_t)i - 1;
		w.next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
	}
	for (size_t i = 0; i + 1 < n; i++)
		try_pair(tok, &w, (int32_t)i);
	while (w.n_heap) {
		struct bpe_cand c = heap_pop(&w);
		int32_t r = w.next[c.left];
		/* Stale if either side has changed since the candidate was pushed. */
		if (w.id[c.left] != c.lid || r < 0 || w.id[r] != c.rid)
			continue;
		gint64 key = (gint64)((uint64_t)c.lid << 32 | (uint32_t)c.rid);
		const struct merge *m = g_hash_table_lookup(tok->merge_of, &key);
		w.id[c.left] = m->result;
		w.id[r] = -2; /* dead */
		w.next[c.left] = w.next[r];
		if (w.next[r] >= 0)
			w.prev[w.next[r]] = c.left;
		if (w.prev[c.left] >= 0)
			try_pair(tok, &w, w.prev[c.left]);
		try_pair(tok, &w, c.left);
	}
	for (int32_t i = n ? 0 : -1; i >= 0; i = w.next[i])
		if (w.id[i] >= 0) /* a byte without a token (id -1) is dropped */
			g_array_append_val(ids, w.id[i]);
out:
	g_free(w.id);
	g_free(w.prev);
	g_free(w.next);
	g_free(w.heap);
	return ret;
}

/* Ids of one piece without the cache: the whole piece when it is a token
 * and ignore_merges is set (spec §6.2.4), else BPE. */
static int encode_piece_uncached(struct tokenizer *tok, const char *s, size_t n, GArray *ids, GString *scratch)
{
	if (tok->ignore_merges) {
		g_string_truncate(scratch, 0);
		append_byte_level(tok, s, n, scratch);
		int32_t id = tokenizer_find(tok, scratch->str, scratch->len);
		if (id >= 0) {
			g_array_append_val(ids, id);
			return 0;
		}
	}
	return bpe_piece(tok, s, n, ids);
}

/* Ids of one pre-tokenized piece (raw UTF-8 bytes), through the cache. */
static int encode_piece(struct tokenizer *tok, const char *s, size_t n, GArray *ids, GString *scratch)
{
	if (n > CACHE_MAX_PIECE)
		return encode_piece_uncached(tok, s, n, ids, scratch);

	struct token probe = { .text = s, .len = (uint32_t)n };
	g_mutex_lock(&tok->cache_lock);
	const int32_t *hit = g_hash_table_lookup(tok->cache, &probe);
	if (hit)
		g_array_append_vals(ids, hit + 1, (guint)hit[0]);
	g_mutex_unlock(&tok->cache_lock);
	if (hit)
		return 0;
	guint start = ids->len;
	int ret = encode_piece_uncached(tok, s, n, ids, scratch);
	if (ret < 0)
		return ret;
	guint cnt = ids->len - start;
	int32_t *val = g_new(int32_t, cnt + 1);
	val[0] = (int32_t)cnt;
	if (cnt) /* none when every byte lacks a token; ids->data may be NULL */
		memcpy(val + 1, &g_array_index(ids, int32_t, start), cnt * sizeof(int32_t));
	struct token *key = cache_key_new(s, n);
	g_mutex_lock(&tok->cache_lock);
	if (g_hash_table_size(tok->cache) >= CACHE_MAX_ENTRIES)
		g_hash_table_remove_all(tok->cache);
	g_hash_table_replace(tok->cache, key, val);
	g_mutex_unlock(&tok->cache_lock);
	return 0;
}

static int encode_raw(struct tokenizer *tok, const char *s, size_t n, GArray *ids, GArray *ends, GString *scratch)
{
	g_array_set_size(ends, 0);
	int ret = pretok_split(tok->pre, s, n, ends);
	size_t start = 0;
	for (guint i = 0; ret == 0 && i < ends->len; i++) {
		size_t end = g_array_index(ends, size_t, i);
		ret = encode_piece(tok, s + start, end - start, ids, scratch);
		start = end;
	}
	return ret;
}

/* A run of the text: raw (id < 0) or one added token. */
struct segment {
	size_t start, len;
	int32_t id;
};

/* Cut the tokens of set out of the raw segments of in, leftmost-longest. */
static void split_added(const struct tokenizer *tok, const struct added_set *set, const char *text,
			GArray *in, GArray *out)
{
	g_array_set_size(out, 0);
	for (guint k = 0; k < in->len; k++) {
		struct segment sg = g_array_index(in, struct segment, k);
		if (sg.id >= 0) {
			g_array_append_val(out, sg);
			continue;
		}
		size_t raw = sg.start, end = sg.start + sg.len;
		for (size_t p = sg.start; p < end;) {
			const GArray *cands = set->by_byte[(uint8_t)text[p]];
			int32_t hit = -1;
			for (guint c = 0; cands && c < cands->len && hit < 0; c++) {
				int32_t id = g_array_index(cands, int32_t, c);
				const struct token *t = &tok->tokens[id];
				if (t->len <= end - p && !memcmp(text + p, t->text, t->len))
					hit = id;
			}
			if (hit < 0) {
				p++;
				continue;
			}
			if (p > raw)
				g_array_append_val(out, ((struct segment){ raw, p - raw, -1 }));
			g_array_append_val(out, ((struct segment){ p, tok->tokens[hit].len, hit }));
			p += tok->tokens[hit].len;
			raw = p;
		}
		if (end > raw)
			g_array_append_val(out, ((struct segment){ raw, end - raw, -1 }));
	}
}

int tokenizer_encode(struct tokenizer *tok, const char *text, size_t len, unsigned flags, GArray *ids)
{
	GString *clean = g_string_sized_new(len + 16);
	GString *scratch = g_string_new(NULL);
	GArray *a = g_array_new(FALSE, FALSE, sizeof(struct segment));
	GArray *b = g_array_new(FALSE, FALSE, sizeof(struct segment));
	GArray *ends = g_array_new(FALSE, FALSE, sizeof(size_t));
	int ret = 0;

	if ((flags & TOKENIZER_ADD_BOS) && tok->bos >= 0)
		g_array_append_val(ids, tok->bos);
	pretok_utf8_repair(text, len, true, clean);
	if (clean->len)
		g_array_append_val(a, ((struct segment){ 0, clean->len, -1 }));
	/* HF order: special (non-normalized) added tokens first, then the others. */
	if (flags & TOKENIZER_PARSE_SPECIAL) {
		split_added(tok, &tok->control, clean->str, a, b);
		GArray *t = a;
		a = b;
		b = t;
	}
	split_added(tok, &tok->user, clean->str, a, b);
	for (guint k = 0; ret == 0 && k < b->len; k++) {
		const struct segment *sg = &g_array_index(b, struct segment, k);
		if (sg->id >= 0)
			g_array_append_val(ids, sg->id);
		else
			ret = encode_raw(tok, clean->str + sg->start, sg->len, ids, ends, scratch);
	}
	g_array_free(ends, TRUE);
	g_array_free(a, TRUE);
	g_array_free(b, TRUE);
	g_string_free(scratch, TRUE);
	g_string_free(clean, TRUE);
	return ret;
}

/* ---- decoding ----------------------------------------------------------- */

int tokenizer_token_bytes(const struct tokenizer *tok, int32_t id, unsigned flags, GString *out)
{
	if (id < 0 || (uint32_t)id >= tok->n_tokens)
		return -EINVAL;
	const struct token *t = &tok->tokens[id];
	switch (t->type) {
	case TOKENIZER_TOKEN_CONTROL:
	case TOKENIZER_TOKEN_UNKNOWN:
		if (flags & TOKENIZER_DECODE_SPECIAL)
			g_string_append_len(out, t->text, t->len);
		return 0;
	case TOKENIZER_TOKEN_USER_DEFINED:
		g_string_append_len(out, t->text, t->len);
		return 0;
	case TOKENIZER_TOKEN_UNUSED:
		return 0;
	default:
		break;
	}
	/* Byte-level text back to bytes; a code point outside the map (a
	 * hand-made vocabulary) is kept as its own UTF-8, as HF's decoder does. */
	const char *p = t->text, *end = t->text + t->len;
	while (p < end) {
		gunichar c = g_utf8_get_char_validated(p, end - p);
		if (c == (gunichar)-1 || c == (gunichar)-2) { /* not UTF-8: copy the byte */
			g_string_append_c(out, *p++);
			continue;
		}
		if (c < 0x144 && tok->cp_byte[c] >= 0)
			g_string_append_c(out, (char)tok->cp_byte[c]);
		else
			g_string_append_unichar(out, c);
		p = g_utf8_next_char(p);
	}
	return 0;
}

int tokenizer_decode(const struct tokenizer *tok, const int32_t *ids, size_t n, unsigned flags, GString *out)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] < 0 || (uint32_t)ids[i] >= tok->n_tokens)
			return -EINVAL;
	GString *raw = g_string_new(NULL);
	for (size_t i = 0; i < n; i++)
		tokenizer_token_bytes(tok, ids[i], flags, raw);
	pretok_utf8_repair(raw->str, raw->len, true, out);
	g_string_free(raw, TRUE);
	return 0;
}

struct tokenizer_stream {
	const struct tokenizer *tok;
	unsigned flags;
	GString *pending; /* bytes of an incomplete UTF-8 sequence (at most 3) */
};

struct tokenizer_stream *tokenizer_stream_create(const struct tokenizer *tok, unsigned flags)
{
	struct tokenizer_stream *s = g_new0(struct tokenizer_stream, 1);
	s->tok = tok;
	s->flags = flags;
	s->pending = g_string_new(NULL);
	return s;
}

void tokenizer_stream_destroy(struct tokenizer_stream *s)
{
	if (!s)
		return;
	g_string_free(s->pending, TRUE);
	g_free(s);
}

int tokenizer_stream_push(struct tokenizer_stream *s, int32_t id, GString *out)
{
	int ret = tokenizer_token_bytes(s->tok, id, s->flags, s->pending);
	if (ret < 0)
		return ret;
	size_t used = pretok_utf8_repair(s->pending->str, s->pending->len, false, out);
	g_string_erase(s->pending, 0, (gssize)used);
	return 0;
}

void tokenizer_stream_flush(struct tokenizer_stream *s, GString *out)
{
	pretok_utf8_repair(s->pending->str, s->pending->len, true, out);
	g_string_truncate(s->pending, 0);
}
