/* tests/tools/model-gen.c — deterministic random LFM2-VL models in the
 * official GGUF layout (see model-gen.h).
 *
 * Only integer and IEEE +, -, *, /, sqrt arithmetic makes the floats (no
 * libm transcendental functions, whose last bit differs between C
 * libraries), so the same arguments give byte-identical files everywhere.
 *
 * Scales keep a forward pass sane in f32: linear weights N(0, 1/in), norm
 * weights 1 + 0.1·N, biases 0.02·N, position embeddings 0.1·N, and the tied
 * embedding / LM head N(0, (4/√d)²), so that logits over a unit-RMS final
 * hidden state have a std of about 4 and greedy decoding has clear winners.
 */
#include <errno.h>
#include <glib.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdarg.h>
#include <string.h>

#include "model/quant.h"
#include "tests/tools/bpe-train.h"
#include "tests/tools/gguf-writer.h"
#include "tests/tools/model-gen.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* ---- deterministic random numbers ------------------------------------ */

struct rng {
	uint64_t s[4];     /* xoshiro256** state */
	double spare;      /* second normal of the last polar pair */
	bool has_spare;
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t fnv1a64(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h;
}

static void rng_seed(struct rng *r, const char *name, uint64_t seed)
{
	uint64_t x = fnv1a64(name) ^ splitmix64(&seed);
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
	r->has_spare = false;
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_u64(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

/* Natural log of x > 0 from IEEE arithmetic only: x = m·2^e with m in
 * [√½, √2), ln m = 2·atanh(t), t = (m−1)/(m+1), |t| < 0.172, series to t^21
 * (error < 1e-17). */
static double det_log(double x)
{
	uint64_t bits;
	memcpy(&bits, &x, sizeof bits);
	int e = (int)((bits >> 52) & 0x7ff) - 1023;
	bits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
	double m;
	memcpy(&m, &bits, sizeof m);
	if (m > 1.4142135623730951) {
		m /= 2;
		e++;
	}
	double t = (m - 1) / (m + 1), t2 = t * t, term = t, sum = 0;
	for (int k = 1; k <= 21; k += 2) {
		sum += term / k;
		term *= t2;
	}
	return (double)e * 0.6931471805599453 + 2 * sum;
}

/* Standard normal by Marsaglia's polar method. */
static double rng_normal(struct rng *r)
{
	if (r->has_spare) {
		r->has_spare = false;
		return r->spare;
	}
	for (;;) {
		double u = (double)(rng_u64(r) >> 11) * 0x1p-52 - 1.0;
		double v = (double)(rng_u64(r) >> 11) * 0x1p-52 - 1.0;
		double s = u * u + v * v;
		if (s >= 1.0 || s == 0.0)
			continue;
		double f = sqrt(-2.0 * det_log(s) / s);
		r->spare = v * f;
		r->has_spare = true;
		return u * f;
	}
}

/* ---- presets (spec §1.9 and docs/test-models.md) ----------------- */

static const struct model_gen_shape presets[] = {
	{ "tiny", "CCACCA", 256, 4, 2, 512, 2048, 4096, 128, 256, 2, 2, 256, 16, 256 },
	{ "450m", "CCACCACCACACACAC", 1024, 16, 8, 4608, 65536, 128000, 768, 3072, 12, 12, 2560,
	  16, 256 },
	{ "1.6b", "CCACCACCACACACAC", 2048, 32, 8, 8192, 65536, 128000, 1152, 4304, 26, 16, 2560,
	  16, 256 },
};

#define L_CACHE 3
#define N_SPECIAL 501

/* The types a whole file may have and their LLAMA_FTYPE (spec §1.4). */
static const struct {
	uint32_t type, ftype;
} file_types[] = {
	{ TENSOR_F32, 0 }, { TENSOR_F16, 1 },  { TENSOR_Q4_0, 2 }, { TENSOR_Q4_1, 3 },
	{ TENSOR_Q8_0, 7 }, { TENSOR_Q5_0, 8 }, { TENSOR_Q5_1, 9 }, { TENSOR_BF16, 32 },
};

static int file_type_of(uint32_t t, uint32_t *ftype)
{
	for (size_t i = 0; i < G_N_ELEMENTS(file_types); i++) {
		if (file_types[i].type == t) {
			*ftype = file_types[i].ftype;
			return 0;
		}
	}
	return -EINVAL;
}

/* ---- tensors ---------------------------------------------------------- */

static bool small_quant(uint32_t t)
{
	return t == TENSOR_Q4_0 || t == TENSOR_Q4_1 || t == TENSOR_Q5_0 || t == TENSOR_Q5_1;
}

/* Tensor type rules of spec §2.9 and the tiny-model contract: 1-D, conv taps
 * and position embedding F32; the tied head Q6_K in 4/5-bit files; patch
 * embedding F16 only in F16 files; a row that is not whole blocks F16. */
static uint32_t lm_type_for(const struct model_gen_tensor *t, uint32_t lm_type)
{
	if (t->n_dims == 1 || g_str_has_suffix(t->name, "shortconv.conv.weight"))
		return TENSOR_F32;
	uint32_t type = lm_type;
	if (strcmp(t->name, "token_embd.weight") == 0 && small_quant(lm_type))
		type = TENSOR_Q6_K; /* the tied head gets the output-tensor rule */
	if (t->ne[0] % tensor_type_info(type)->block_elems != 0)
		type = TENSOR_F16;
	return type;
}

static uint32_t mm_type_for(const struct model_gen_tensor *t, uint32_t mm_type)
{
	if (t->n_dims == 1 || strcmp(t->name, "v.position_embd.weight") == 0)
		return TENSOR_F32;
	if (strcmp(t->name, "v.patch_embd.weight") == 0)
		return mm_type == TENSOR_F16 ? TENSOR_F16 : TENSOR_F32;
	if (t->ne[0] % tensor_type_info(mm_type)->block_elems != 0)
		return TENSOR_F16;
	return mm_type;
}

static void add_spec(GArray *specs, enum model_gen_init init, float std, uint32_t n_dims,
		     uint64_t ne0, uint64_t ne1, const char *fmt, ...) G_GNUC_PRINTF(7, 8);

static void add_spec(GArray *specs, enum model_gen_init init, float std, uint32_t n_dims,
		     uint64_t ne0, uint64_t ne1, const char *fmt, ...)
{
	struct model_gen_tensor t = { .n_dims = n_dims, .ne = { ne0, ne1, 1, 1 }, .init = init,
				      .std = std };
	va_list ap;
	va_start(ap, fmt);
	g_vsnprintf(t.name, sizeof t.name, fmt, ap);
	va_end(ap);
	g_array_append_val(specs, t);
}

/* A linear layer [in, out]: N(0, 1/in). */
#define LINEAR(specs, in, out, ...) \
	add_spec(specs, MODEL_GEN_NORMAL, (float)(1.0 / sqrt((double)(in))), 2, in, out, __VA_ARGS__)
#define NORM_W(specs, n, ...) add_spec(specs, MODEL_GEN_NORM_WEIGHT, 0, 1, n, 1, __VA_ARGS__)
#define BIAS(specs, n, ...) add_spec(specs, MODEL_GEN_BIAS, 0, 1, n, 1, __VA_ARGS__)

static GArray *lm_specs(const struct model_gen_shape *p, uint32_t lm_type)
{
	GArray *s = g_array_new(FALSE, TRUE, sizeof(struct model_gen_tensor));
	const uint64_t d = p->d, ff = p->ff, hd = p->d / p->n_head;
	add_spec(s, MODEL_GEN_NORMAL, (float)(4.0 / sqrt((double)d)), 2, d, p->vocab,
		 "token_embd.weight");
	for (uint32_t i = 0; p->kinds[i]; i++) {
		NORM_W(s, d, "blk.%u.attn_norm.weight", i);
		if (p->kinds[i] == 'A') {
			LINEAR(s, d, p->n_head * hd, "blk.%u.attn_q.weight", i);
			LINEAR(s, d, p->n_kv * hd, "blk.%u.attn_k.weight", i);
			LINEAR(s, d, p->n_kv * hd, "blk.%u.attn_v.weight", i);
			LINEAR(s, p->n_head * hd, d, "blk.%u.attn_output.weight", i);
			NORM_W(s, hd, "blk.%u.attn_q_norm.weight", i);
			NORM_W(s, hd, "blk.%u.attn_k_norm.weight", i);
		} else {
			LINEAR(s, d, 3 * d, "blk.%u.shortconv.in_proj.weight", i);
			/* depthwise taps [L_cache, d]: three taps per channel */
			add_spec(s, MODEL_GEN_NORMAL, (float)(1.0 / sqrt((double)L_CACHE)), 2, L_CACHE,
				 d, "blk.%u.shortconv.conv.weight", i);
			LINEAR(s, d, d, "blk.%u.shortconv.out_proj.weight", i);
		}
		NORM_W(s, d, "blk.%u.ffn_norm.weight", i);
		LINEAR(s, d, ff, "blk.%u.ffn_gate.weight", i);
		LINEAR(s, d, ff, "blk.%u.ffn_up.weight", i);
		LINEAR(s, ff, d, "blk.%u.ffn_down.weight", i);
	}
	NORM_W(s, d, "token_embd_norm.weight"); /* the final norm (spec §1.6) */
	for (guint i = 0; i < s->len; i++) {
		struct model_gen_tensor *t = &g_array_index(s, struct model_gen_tensor, i);
		t->type = lm_type_for(t, lm_type);
	}
	return s;
}

static GArray *mm_specs(const struct model_gen_shape *p, uint32_t mm_type)
{
	GArray *s = g_array_new(FALSE, TRUE, sizeof(struct model_gen_tensor));
	const uint64_t D = p->v_width, F = p->v_ff, P = p->proj_hidden, d = p->d;
	/* patch embedding [patch, patch, 3, D]: a linear layer over 3·patch² inputs */
	add_spec(s, MODEL_GEN_NORMAL, (float)(1.0 / sqrt(3.0 * p->patch * p->patch)), 4, p->patch,
		 p->patch, "v.patch_embd.weight");
	struct model_gen_tensor *pe = &g_array_index(s, struct model_gen_tensor, s->len - 1);
	pe->ne[2] = 3;
	pe->ne[3] = D;
	BIAS(s, D, "v.patch_embd.bias");
	add_spec(s, MODEL_GEN_NORMAL, 0.1f, 2, D, p->n_pos, "v.position_embd.weight");
	for (uint32_t i = 0; i < p->v_layers; i++) {
		NORM_W(s, D, "v.blk.%u.ln1.weight", i);
		BIAS(s, D, "v.blk.%u.ln1.bias", i);
		static const char *const attn[] = { "attn_q", "attn_k", "attn_v", "attn_out" };
		for (int k = 0; k < 4; k++) {
			LINEAR(s, D, D, "v.blk.%u.%s.weight", i, attn[k]);
			BIAS(s, D, "v.blk.%u.%s.bias", i, attn[k]);
		}
		NORM_W(s, D, "v.blk.%u.ln2.weight", i);
		BIAS(s, D, "v.blk.%u.ln2.bias", i);
		LINEAR(s, D, F, "v.blk.%u.ffn_up.weight", i);
		BIAS(s, F, "v.blk.%u.ffn_up.bias", i);
		LINEAR(s, F, D, "v.blk.%u.ffn_down.weight", i);
		BIAS(s, D, "v.blk.%u.ffn_down.bias", i);
	}
	NORM_W(s, D, "v.post_ln.weight");
	BIAS(s, D, "v.post_ln.bias");
	NORM_W(s, 4 * D, "mm.input_norm.weight");
	BIAS(s, 4 * D, "mm.input_norm.bias");
	LINEAR(s, 4 * D, P, "mm.1.weight");
	BIAS(s, P, "mm.1.bias");
	LINEAR(s, P, d, "mm.2.weight");
	BIAS(s, d, "mm.2.bias");
	for (guint i = 0; i < s->len; i++) {
		struct model_gen_tensor *t = &g_array_index(s, struct model_gen_tensor, i);
		t->type = mm_type_for(t, mm_type);
	}
	return s;
}

static float init_value(const struct model_gen_tensor *t, struct rng *r)
{
	double n = rng_normal(r);
	switch (t->init) {
	case MODEL_GEN_NORM_WEIGHT:
		return (float)(1.0 + 0.1 * n);
	case MODEL_GEN_BIAS:
		return (float)(0.02 * n);
	default:
		return (float)(t->std * n);
	}
}

/* ---- tokenizer (spec §5.3, §6.1) ------------------------------------- */

/* A Jinja template rendering spec §5.1: BOS, ChatML turns, "<image>" for
 * image items of list contents, no default system prompt. */
static const char chat_template[] =
	"{{- bos_token -}}\n"
	"{%- for message in messages -%}\n"
	"{{- '<|im_start|>' + message['role'] + '\\n' -}}\n"
	"{%- if message['content'] is string -%}\n"
	"{{- message['content'] -}}\n"
	"{%- else -%}\n"
	"{%- for item in message['content'] -%}\n"
	"{%- if item['type'] == 'image' -%}\n"
	"{{- '<image>' -}}\n"
	"{%- elif item['type'] == 'text' -%}\n"
	"{{- item['text'] -}}\n"
	"{%- endif -%}\n"
	"{%- endfor -%}\n"
	"{%- endif -%}\n"
	"{{- '<|im_end|>\\n' -}}\n"
	"{%- endfor -%}\n"
	"{%- if add_generation_prompt -%}\n"
	"{{- '<|im_start|>assistant\\n' -}}\n"
	"{%- endif -%}\n";

enum { TOKEN_NORMAL = 1, TOKEN_CONTROL = 3, TOKEN_UNUSED = 5 };

static char *special_token_text(uint32_t id)
{
	static const char *const named[] = {
		"<|pad|>", "<|startoftext|>", "<|endoftext|>", "<|fim_pre|>", "<|fim_mid|>",
		"<|fim_suf|>", "<|im_start|>", "<|im_end|>", "<|tool_list_start|>",
		"<|tool_list_end|>", "<|tool_call_start|>", "<|tool_call_end|>",
		"<|tool_response_start|>", "<|tool_response_end|>",
	};
	if (id < G_N_ELEMENTS(named))
		return g_strdup(named[id]);
	if (id < 396) /* 14..395: reserved, numbered id − 10 */
		return g_strdup_printf("<|reserved_%u|>", id - 10);
	if (id == 396)
		return g_strdup("<image>");
	if (id < 497)
		return g_strdup_printf("<|img_row_%u_col_%u|>", (id - 397) / 10 + 1, (id - 397) % 10 + 1);
	static const char *const tail[] = { "<|img_thumbnail|>", "<|image_start|>",
					    "<|image_end|>", "<|image_split|>" };
	return g_strdup(tail[id - 497]);
}


static void token_add(struct model_gen_layout *l, char *text, int32_t type)
{
	g_ptr_array_add(l->tokens, text);
	g_array_append_val(l->token_types, type);
}

static int vocab_build(struct model_gen_layout *l, uint32_t n_vocab)
{
	l->tokens = g_ptr_array_new_with_free_func(g_free);
	l->token_types = g_array_new(FALSE, FALSE, sizeof(int32_t));
	for (uint32_t id = 0; id < N_SPECIAL; id++)
		token_add(l, special_token_text(id), TOKEN_CONTROL);
	size_t n_lines;
	const char *const *lines = bpe_corpus_lines(&n_lines);
	GPtrArray *bpe = NULL;
	int rc = bpe_train(lines, n_lines, n_vocab - N_SPECIAL, &bpe, &l->merges);
	if (rc)
		return rc;
	for (guint i = 0; i < bpe->len; i++)
		token_add(l, g_strdup(bpe->pdata[i]), TOKEN_NORMAL);
	g_ptr_array_unref(bpe);
	while (l->tokens->len < n_vocab)
		token_add(l, g_strdup_printf("[PAD%u]", l->tokens->len), TOKEN_UNUSED);
	return 0;
}

/* ---- keys (spec §1.5, §1.7, §5.3) -------------------------------------- */

#define KV(key_, type_, ...)                                                                  \
	do {                                                                                  \
		struct model_gen_kv kv_ = { .key = key_, .type = GGUF_TYPE_##type_, __VA_ARGS__ }; \
		g_array_append_val(l->kvs, kv_);                                              \
	} while (0)

static int lm_keys(struct model_gen_layout *l, const struct model_gen_shape *s, bool with_vocab)
{
	const uint32_t n_layer = (uint32_t)strlen(s->kinds);
	for (uint32_t i = 0; i < n_layer; i++)
		l->kv_heads[i] = s->kinds[i] == 'A' ? (int32_t)s->n_kv : 0;
	KV("lfm2.block_count", UINT32, .u32 = n_layer);
	KV("lfm2.context_length", UINT32, .u32 = s->context_length);
	KV("lfm2.embedding_length", UINT32, .u32 = s->d);
	KV("lfm2.feed_forward_length", UINT32, .u32 = s->ff);
	KV("lfm2.attention.head_count", UINT32, .u32 = s->n_head);
	KV("lfm2.attention.head_count_kv", ARRAY, .elem = GGUF_TYPE_INT32, .arr = l->kv_heads,
	   .n = n_layer);
	KV("lfm2.rope.freq_base", FLOAT32, .f32 = 1000000.0f);
	KV("lfm2.attention.layer_norm_rms_epsilon", FLOAT32, .f32 = 1e-5f);
	KV("lfm2.vocab_size", UINT32, .u32 = s->vocab);
	KV("lfm2.shortconv.l_cache", UINT32, .u32 = L_CACHE);
	KV("tokenizer.ggml.model", STRING, .str = "gpt2");
	KV("tokenizer.ggml.pre", STRING, .str = "lfm2");
	if (with_vocab) {
		int rc = vocab_build(l, s->vocab);
		if (rc)
			return rc;
		KV("tokenizer.ggml.tokens", ARRAY, .elem = GGUF_TYPE_STRING, .arr = l->tokens->pdata,
		   .n = l->tokens->len);
		KV("tokenizer.ggml.token_type", ARRAY, .elem = GGUF_TYPE_INT32,
		   .arr = l->token_types->data, .n = l->token_types->len);
		KV("tokenizer.ggml.merges", ARRAY, .elem = GGUF_TYPE_STRING, .arr = l->merges->pdata,
		   .n = l->merges->len);
	}
	KV("tokenizer.ggml.bos_token_id", UINT32, .u32 = 1);
	KV("tokenizer.ggml.eos_token_id", UINT32, .u32 = 7);
	KV("tokenizer.ggml.padding_token_id", UINT32, .u32 = 0);
	KV("tokenizer.ggml.add_bos_token", BOOL, .b = true);
	KV("tokenizer.ggml.add_eos_token", BOOL, .b = false);
	KV("tokenizer.chat_template", STRING, .str = chat_template);
	return 0;
}

static void mm_keys(struct model_gen_layout *l, const struct model_gen_shape *s)
{
	static const float half3[3] = { 0.5f, 0.5f, 0.5f };
	KV("clip.projector_type", STRING, .str = "lfm2");
	KV("clip.has_vision_encoder", BOOL, .b = true);
	KV("clip.use_gelu", BOOL, .b = true);
	KV("clip.vision.projection_dim", UINT32, .u32 = s->d);
	KV("clip.vision.image_size", UINT32, .u32 = 256);
	KV("clip.vision.patch_size", UINT32, .u32 = s->patch);
	KV("clip.vision.embedding_length", UINT32, .u32 = s->v_width);
	KV("clip.vision.feed_forward_length", UINT32, .u32 = s->v_ff);
	KV("clip.vision.block_count", UINT32, .u32 = s->v_layers);
	KV("clip.vision.attention.head_count", UINT32, .u32 = s->v_heads);
	KV("clip.vision.attention.layer_norm_epsilon", FLOAT32, .f32 = 1e-6f);
	KV("clip.vision.image_mean", ARRAY, .elem = GGUF_TYPE_FLOAT32, .arr = half3, .n = 3);
	KV("clip.vision.image_std", ARRAY, .elem = GGUF_TYPE_FLOAT32, .arr = half3, .n = 3);
	KV("clip.vision.projector.scale_factor", UINT32, .u32 = 2);
}

int model_gen_layout_create(const struct model_gen_shape *s, bool lm, uint32_t type,
			    bool with_vocab, struct model_gen_layout **out)
{
	uint32_t ftype;
	*out = NULL;
	if (file_type_of(type, &ftype) < 0 || strlen(s->kinds) > 64)
		return -EINVAL;
	struct model_gen_layout *l = g_new0(struct model_gen_layout, 1);
	l->kvs = g_array_new(FALSE, TRUE, sizeof(struct model_gen_kv));
	l->tensors = lm ? lm_specs(s, type) : mm_specs(s, type);
	g_snprintf(l->name, sizeof l->name, "captiond test model %s", s->name);
	KV("general.architecture", STRING, .str = lm ? "lfm2" : "clip");
	KV("general.type", STRING, .str = lm ? "model" : "mmproj");
	KV("general.name", STRING, .str = l->name);
	KV("general.file_type", UINT32, .u32 = ftype);
	KV("general.quantization_version", UINT32, .u32 = 2);
	int rc = 0;
	if (lm)
		rc = lm_keys(l, s, with_vocab);
	else
		mm_keys(l, s);
	if (rc < 0)
		model_gen_layout_destroy(l);
	else
		*out = l;
	return rc;
}

void model_gen_layout_destroy(struct model_gen_layout *l)
{
	if (!l)
		return;
	g_array_free(l->kvs, TRUE);
	g_array_free(l->tensors, TRUE);
	if (l->tokens)
		g_ptr_array_unref(l->tokens);
	if (l->token_types)
		g_array_free(l->token_types, TRUE);
	if (l->merges)
		g_ptr_array_unref(l->merges);
	g_free(l);
}

/* ---- writing ---------------------------------------------------------- */

#define TRY(expr)                  \
	do {                       \
		rc = (expr);       \
		if (rc < 0)        \
			goto out;  \
	} while (0)

static int add_kv(struct gguf_writer *w, const struct model_gen_kv *kv)
{
	switch (kv->type) {
	case GGUF_TYPE_UINT32:
		return gguf_writer_add_u32(w, kv->key, kv->u32);
	case GGUF_TYPE_FLOAT32:
		return gguf_writer_add_f32(w, kv->key, kv->f32);
	case GGUF_TYPE_BOOL:
		return gguf_writer_add_bool(w, kv->key, kv->b);
	case GGUF_TYPE_STRING:
		return gguf_writer_add_str(w, kv->key, kv->str);
	default:
		if (kv->elem == GGUF_TYPE_STRING)
			return gguf_writer_add_str_array(w, kv->key, kv->arr, kv->n);
		return gguf_writer_add_array(w, kv->key, kv->elem, kv->arr, kv->n);
	}
}

/* Generates, converts and writes every tensor's payload, a few rows at a
 * time so that memory stays small whatever the model size. */
static int write_tensors(struct gguf_writer *w, FILE *fp, const GArray *specs, uint64_t seed,
			 bool verbose)
{
	int rc = 0;
	float *rows = NULL;
	uint8_t *packed = NULL;
	for (guint i = 0; i < specs->len; i++) {
		const struct model_gen_tensor *t = &g_array_index(specs, struct model_gen_tensor, i);
		const uint64_t ne0 = t->ne[0], n_rows = t->ne[1] * t->ne[2] * t->ne[3];
		uint64_t row_bytes;
		TRY(tensor_row_bytes(t->type, ne0, &row_bytes));
		const uint64_t chunk = ne0 >= (1u << 20) ? 1 : (1u << 20) / ne0;
		rows = g_realloc(rows, chunk * ne0 * sizeof(float));
		packed = g_realloc(packed, chunk * row_bytes);
		struct rng r;
		rng_seed(&r, t->name, seed);
		TRY(gguf_writer_tensor_begin(w, i));
		for (uint64_t r0 = 0; r0 < n_rows; r0 += chunk) {
			const uint64_t nr = n_rows - r0 < chunk ? n_rows - r0 : chunk;
			for (uint64_t k = 0; k < nr * ne0; k++)
				rows[k] = init_value(t, &r);
			for (uint64_t k = 0; k < nr; k++)
				TRY(quantize_row(t->type, rows + k * ne0, packed + k * row_bytes, ne0));
			TRY(gguf_writer_tensor_part(w, fp, packed, nr * row_bytes));
		}
		TRY(gguf_writer_tensor_end(w, fp));
		if (verbose)
			fprintf(stderr, "  %-36s %-5s [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
				", %" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT "]\n",
				t->name, tensor_type_info(t->type)->name, t->ne[0], t->ne[1],
				t->ne[2], t->ne[3]);
	}
out:
	g_free(rows);
	g_free(packed);
	return rc;
}


const struct model_gen_shape *model_gen_preset(const char *name)
{
	for (size_t i = 0; i < G_N_ELEMENTS(presets); i++)
		if (name && strcmp(presets[i].name, name) == 0)
			return &presets[i];
	return NULL;
}

bool model_gen_preset_known(const char *preset)
{
	return model_gen_preset(preset) != NULL;
}

int model_gen_parse_type(const char *s, uint32_t *type)
{
	for (size_t i = 0; s && i < G_N_ELEMENTS(file_types); i++) {
		if (strcmp(tensor_type_info(file_types[i].type)->name, s) == 0) {
			*type = file_types[i].type;
			return 0;
		}
	}
	return -EINVAL;
}

/* Keys, infos, header and payloads into path; the file is removed again if
 * anything fails so no half-written model is left behind. */
static int write_file(const char *path, const struct model_gen_options *o, bool lm)
{
	int rc = -EINVAL;
	FILE *fp = NULL;
	char *buf = NULL;
	struct model_gen_layout *l = NULL;
	struct gguf_writer *w = gguf_writer_create();
	const struct model_gen_shape *s = model_gen_preset(o->preset);
	if (!s)
		goto out;
	TRY(model_gen_layout_create(s, lm, lm ? o->lm_type : o->mm_type, true, &l));
	for (guint i = 0; i < l->kvs->len; i++)
		TRY(add_kv(w, &g_array_index(l->kvs, struct model_gen_kv, i)));
	for (guint i = 0; i < l->tensors->len; i++) {
		const struct model_gen_tensor *t = &g_array_index(l->tensors, struct model_gen_tensor, i);
		TRY(gguf_writer_add_tensor(w, t->name, t->n_dims, t->ne, t->type));
	}
	fp = fopen(path, "wb");
	if (!fp) {
		rc = -errno;
		fprintf(stderr, "make-model: %s: %s\n", path, g_strerror(errno));
		goto out;
	}
	buf = g_malloc(1u << 22);
	setvbuf(fp, buf, _IOFBF, 1u << 22);
	TRY(gguf_writer_write_header(w, fp));
	TRY(write_tensors(w, fp, l->tensors, o->seed, o->verbose));
	if (fflush(fp) != 0)
		rc = -EIO;
out:
	if (fp && fclose(fp) != 0 && rc == 0)
		rc = -EIO;
	if (fp && rc < 0)
		remove(path);
	g_free(buf);
	gguf_writer_destroy(w);
	model_gen_layout_destroy(l);
	return rc;
}

int model_gen_write_lm(const struct model_gen_options *o, const char *path)
{
	return write_file(path, o, true);
}

int model_gen_write_mmproj(const struct model_gen_options *o, const char *path)
{
	return write_file(path, o, false);
}

int model_gen_values(const char *preset, uint64_t seed, const char *name, uint64_t first,
		     float *out, uint64_t n)
{
	const struct model_gen_shape *p = model_gen_preset(preset);
	if (!p)
		return -EINVAL;
	int rc = -ENOENT;
	for (int lm = 0; lm < 2 && rc == -ENOENT; lm++) {
		GArray *specs = lm ? lm_specs(p, TENSOR_F32) : mm_specs(p, TENSOR_F32);
		for (guint i = 0; i < specs->len; i++) {
			const struct model_gen_tensor *t = &g_array_index(specs, struct model_gen_tensor, i);
			if (strcmp(t->name, name) != 0)
				continue;
			uint64_t total = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
			rc = -EINVAL;
			if (first > total || n > total - first)
				break;
			struct rng r;
			rng_seed(&r, t->name, seed);
			for (uint64_t k = 0; k < first; k++)
				(void)init_value(t, &r);
			for (uint64_t k = 0; k < n; k++)
				out[k] = init_value(t, &r);
			rc = 0;
			break;
		}
		g_array_free(specs, TRUE);
	}
	return rc;
}
