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

/* ---- presets (spec §1.9 and /work/tiny-and-goldens.md) ----------------- */

struct preset {
	const char *name;
	/* LM */
	uint32_t n_layer, d, n_head, n_kv, ff, vocab, context_length;
	uint32_t attn_layers; /* bit i set: layer i is attention */
	/* vision + projector */
	uint32_t v_width, v_ff, v_layers, v_heads, proj_hidden;
};

static const struct preset presets[] = {
	{ "tiny", 6, 256, 4, 2, 512, 2048, 4096, 1u << 2 | 1u << 5, 128, 256, 2, 2, 256 },
	{ "450m", 16, 1024, 16, 8, 4608, 65536, 128000,
	  1u << 2 | 1u << 5 | 1u << 8 | 1u << 10 | 1u << 12 | 1u << 14, 768, 3072, 12, 12, 2560 },
	{ "1.6b", 16, 2048, 32, 8, 8192, 65536, 128000,
	  1u << 2 | 1u << 5 | 1u << 8 | 1u << 10 | 1u << 12 | 1u << 14, 1152, 4304, 26, 16, 2560 },
};

#define HEAD_DIM 64
#define L_CACHE 3
#define PATCH 16
#define N_POS 256
#define N_SPECIAL 501

/* LLAMA_FTYPE of a file whose main weights are of type t (spec §1.4). */
static int file_type_of(uint32_t t, uint32_t *ftype)
{
	switch (t) {
	case TENSOR_F32: *ftype = 0; return 0;
	case TENSOR_F16: *ftype = 1; return 0;
	case TENSOR_Q4_0: *ftype = 2; return 0;
	case TENSOR_Q4_1: *ftype = 3; return 0;
	case TENSOR_Q8_0: *ftype = 7; return 0;
	case TENSOR_Q5_0: *ftype = 8; return 0;
	case TENSOR_Q5_1: *ftype = 9; return 0;
	case TENSOR_BF16: *ftype = 32; return 0;
	default: return -EINVAL;
	}
}

/* ---- tensors ---------------------------------------------------------- */

enum init { INIT_NORMAL, INIT_NORM_WEIGHT, INIT_BIAS };

struct tensor_spec {
	char name[64];
	uint32_t n_dims;
	uint64_t ne[4];
	uint32_t type;
	enum init init;
	float std; /* INIT_NORMAL */
};

static bool small_quant(uint32_t t)
{
	return t == TENSOR_Q4_0 || t == TENSOR_Q4_1 || t == TENSOR_Q5_0 || t == TENSOR_Q5_1;
}

/* Tensor type rules of spec §2.9 and the tiny-model contract: 1-D, conv taps
 * and position embedding F32; the tied head Q6_K in 4/5-bit files; patch
 * embedding F16 only in F16 files; a row that is not whole blocks F16. */
static uint32_t lm_type_for(const struct tensor_spec *t, uint32_t lm_type)
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

static uint32_t mm_type_for(const struct tensor_spec *t, uint32_t mm_type)
{
	if (t->n_dims == 1 || strcmp(t->name, "v.position_embd.weight") == 0)
		return TENSOR_F32;
	if (strcmp(t->name, "v.patch_embd.weight") == 0)
		return mm_type == TENSOR_F16 ? TENSOR_F16 : TENSOR_F32;
	if (t->ne[0] % tensor_type_info(mm_type)->block_elems != 0)
		return TENSOR_F16;
	return mm_type;
}

static void add_spec(GArray *specs, enum init init, float std, uint32_t n_dims, uint64_t ne0,
		     uint64_t ne1, const char *fmt, ...) G_GNUC_PRINTF(7, 8);

static void add_spec(GArray *specs, enum init init, float std, uint32_t n_dims, uint64_t ne0,
		     uint64_t ne1, const char *fmt, ...)
{
	struct tensor_spec t = { .n_dims = n_dims, .ne = { ne0, ne1, 1, 1 }, .init = init, .std = std };
	va_list ap;
	va_start(ap, fmt);
	g_vsnprintf(t.name, sizeof t.name, fmt, ap);
	va_end(ap);
	g_array_append_val(specs, t);
}

/* A linear layer [in, out]: N(0, 1/in). */
#define LINEAR(specs, in, out, ...) \
	add_spec(specs, INIT_NORMAL, (float)(1.0 / sqrt((double)(in))), 2, in, out, __VA_ARGS__)
#define NORM_W(specs, n, ...) add_spec(specs, INIT_NORM_WEIGHT, 0, 1, n, 1, __VA_ARGS__)
#define BIAS(specs, n, ...) add_spec(specs, INIT_BIAS, 0, 1, n, 1, __VA_ARGS__)

static GArray *lm_specs(const struct preset *p, uint32_t lm_type)
{
	GArray *s = g_array_new(FALSE, TRUE, sizeof(struct tensor_spec));
	const uint64_t d = p->d, ff = p->ff;
	add_spec(s, INIT_NORMAL, (float)(4.0 / sqrt((double)d)), 2, d, p->vocab, "token_embd.weight");
	for (uint32_t i = 0; i < p->n_layer; i++) {
		NORM_W(s, d, "blk.%u.attn_norm.weight", i);
		if (p->attn_layers >> i & 1) {
			LINEAR(s, d, p->n_head * HEAD_DIM, "blk.%u.attn_q.weight", i);
			LINEAR(s, d, p->n_kv * HEAD_DIM, "blk.%u.attn_k.weight", i);
			LINEAR(s, d, p->n_kv * HEAD_DIM, "blk.%u.attn_v.weight", i);
			LINEAR(s, p->n_head * HEAD_DIM, d, "blk.%u.attn_output.weight", i);
			NORM_W(s, HEAD_DIM, "blk.%u.attn_q_norm.weight", i);
			NORM_W(s, HEAD_DIM, "blk.%u.attn_k_norm.weight", i);
		} else {
			LINEAR(s, d, 3 * d, "blk.%u.shortconv.in_proj.weight", i);
			/* depthwise taps [L_cache, d]: three taps per channel */
			add_spec(s, INIT_NORMAL, (float)(1.0 / sqrt((double)L_CACHE)), 2, L_CACHE, d,
				 "blk.%u.shortconv.conv.weight", i);
			LINEAR(s, d, d, "blk.%u.shortconv.out_proj.weight", i);
		}
		NORM_W(s, d, "blk.%u.ffn_norm.weight", i);
		LINEAR(s, d, ff, "blk.%u.ffn_gate.weight", i);
		LINEAR(s, d, ff, "blk.%u.ffn_up.weight", i);
		LINEAR(s, ff, d, "blk.%u.ffn_down.weight", i);
	}
	NORM_W(s, d, "token_embd_norm.weight"); /* the final norm (spec §1.6) */
	for (guint i = 0; i < s->len; i++) {
		struct tensor_spec *t = &g_array_index(s, struct tensor_spec, i);
		t->type = lm_type_for(t, lm_type);
	}
	return s;
}

static GArray *mm_specs(const struct preset *p, uint32_t mm_type)
{
	GArray *s = g_array_new(FALSE, TRUE, sizeof(struct tensor_spec));
	const uint64_t D = p->v_width, F = p->v_ff, P = p->proj_hidden, d = p->d;
	/* patch embedding [16, 16, 3, D]: a linear layer over 768 inputs */
	add_spec(s, INIT_NORMAL, (float)(1.0 / sqrt(3.0 * PATCH * PATCH)), 4, PATCH, PATCH,
		 "v.patch_embd.weight");
	struct tensor_spec *pe = &g_array_index(s, struct tensor_spec, s->len - 1);
	pe->ne[2] = 3;
	pe->ne[3] = D;
	BIAS(s, D, "v.patch_embd.bias");
	add_spec(s, INIT_NORMAL, 0.1f, 2, D, N_POS, "v.position_embd.weight");
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
		struct tensor_spec *t = &g_array_index(s, struct tensor_spec, i);
		t->type = mm_type_for(t, mm_type);
	}
	return s;
}

static float init_value(const struct tensor_spec *t, struct rng *r)
{
	double n = rng_normal(r);
	switch (t->init) {
	case INIT_NORM_WEIGHT:
		return (float)(1.0 + 0.1 * n);
	case INIT_BIAS:
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

struct vocab {
	GPtrArray *tokens; /* char *, owned */
	GArray *types;     /* int32_t */
	GPtrArray *merges; /* char *, owned */
};

static void vocab_clear(struct vocab *v)
{
	if (v->tokens)
		g_ptr_array_unref(v->tokens);
	if (v->types)
		g_array_free(v->types, TRUE);
	if (v->merges)
		g_ptr_array_unref(v->merges);
}

static int vocab_build(uint32_t n_vocab, struct vocab *v)
{
	v->tokens = g_ptr_array_new_with_free_func(g_free);
	v->types = g_array_new(FALSE, FALSE, sizeof(int32_t));
	for (uint32_t id = 0; id < N_SPECIAL; id++) {
		int32_t type = TOKEN_CONTROL;
		g_ptr_array_add(v->tokens, special_token_text(id));
		g_array_append_val(v->types, type);
	}
	size_t n_lines;
	const char *const *lines = bpe_corpus_lines(&n_lines);
	GPtrArray *bpe = NULL;
	int rc = bpe_train(lines, n_lines, n_vocab - N_SPECIAL, &bpe, &v->merges);
	if (rc)
		return rc;
	for (guint i = 0; i < bpe->len; i++) {
		int32_t type = TOKEN_NORMAL;
		g_ptr_array_add(v->tokens, g_strdup(bpe->pdata[i]));
		g_array_append_val(v->types, type);
	}
	g_ptr_array_unref(bpe);
	while (v->tokens->len < n_vocab) {
		int32_t type = TOKEN_UNUSED;
		g_ptr_array_add(v->tokens, g_strdup_printf("[PAD%u]", v->tokens->len));
		g_array_append_val(v->types, type);
	}
	return 0;
}

/* ---- writing ---------------------------------------------------------- */

#define TRY(expr)                  \
	do {                       \
		rc = (expr);       \
		if (rc < 0)        \
			goto out;  \
	} while (0)

static int lm_keys(struct gguf_writer *w, const struct preset *p, uint32_t lm_type)
{
	int rc;
	uint32_t ftype;
	struct vocab v = { 0 };
	int32_t kv_heads[32];
	TRY(file_type_of(lm_type, &ftype));
	if (p->n_layer > G_N_ELEMENTS(kv_heads))
		return -EINVAL;
	TRY(gguf_writer_add_str(w, "general.architecture", "lfm2"));
	TRY(gguf_writer_add_str(w, "general.type", "model"));
	char *name = g_strdup_printf("captiond test model %s", p->name);
	rc = gguf_writer_add_str(w, "general.name", name);
	g_free(name);
	if (rc)
		goto out;
	TRY(gguf_writer_add_u32(w, "general.file_type", ftype));
	TRY(gguf_writer_add_u32(w, "general.quantization_version", 2));
	TRY(gguf_writer_add_u32(w, "lfm2.block_count", p->n_layer));
	TRY(gguf_writer_add_u32(w, "lfm2.context_length", p->context_length));
	TRY(gguf_writer_add_u32(w, "lfm2.embedding_length", p->d));
	TRY(gguf_writer_add_u32(w, "lfm2.feed_forward_length", p->ff));
	TRY(gguf_writer_add_u32(w, "lfm2.attention.head_count", p->n_head));
	for (uint32_t i = 0; i < p->n_layer; i++)
		kv_heads[i] = (p->attn_layers >> i & 1) ? (int32_t)p->n_kv : 0;
	TRY(gguf_writer_add_array(w, "lfm2.attention.head_count_kv", GGUF_TYPE_INT32, kv_heads,
				  p->n_layer));
	TRY(gguf_writer_add_f32(w, "lfm2.rope.freq_base", 1000000.0f));
	TRY(gguf_writer_add_f32(w, "lfm2.attention.layer_norm_rms_epsilon", 1e-5f));
	TRY(gguf_writer_add_u32(w, "lfm2.vocab_size", p->vocab));
	TRY(gguf_writer_add_u32(w, "lfm2.shortconv.l_cache", L_CACHE));

	TRY(vocab_build(p->vocab, &v));
	TRY(gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2"));
	TRY(gguf_writer_add_str(w, "tokenizer.ggml.pre", "lfm2"));
	TRY(gguf_writer_add_str_array(w, "tokenizer.ggml.tokens",
				      (const char *const *)v.tokens->pdata, v.tokens->len));
	TRY(gguf_writer_add_array(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, v.types->data,
				  v.types->len));
	TRY(gguf_writer_add_str_array(w, "tokenizer.ggml.merges",
				      (const char *const *)v.merges->pdata, v.merges->len));
	TRY(gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 1));
	TRY(gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 7));
	TRY(gguf_writer_add_u32(w, "tokenizer.ggml.padding_token_id", 0));
	TRY(gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", true));
	TRY(gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", false));
	TRY(gguf_writer_add_str(w, "tokenizer.chat_template", chat_template));
out:
	vocab_clear(&v);
	return rc;
}

static int mm_keys(struct gguf_writer *w, const struct preset *p, uint32_t mm_type)
{
	int rc;
	uint32_t ftype;
	static const float half3[3] = { 0.5f, 0.5f, 0.5f };
	TRY(file_type_of(mm_type, &ftype));
	TRY(gguf_writer_add_str(w, "general.architecture", "clip"));
	TRY(gguf_writer_add_str(w, "general.type", "mmproj"));
	char *name = g_strdup_printf("captiond test model %s", p->name);
	rc = gguf_writer_add_str(w, "general.name", name);
	g_free(name);
	if (rc)
		goto out;
	TRY(gguf_writer_add_u32(w, "general.file_type", ftype));
	TRY(gguf_writer_add_u32(w, "general.quantization_version", 2));
	TRY(gguf_writer_add_str(w, "clip.projector_type", "lfm2"));
	TRY(gguf_writer_add_bool(w, "clip.has_vision_encoder", true));
	TRY(gguf_writer_add_bool(w, "clip.use_gelu", true));
	TRY(gguf_writer_add_u32(w, "clip.vision.projection_dim", p->d));
	TRY(gguf_writer_add_u32(w, "clip.vision.image_size", 256));
	TRY(gguf_writer_add_u32(w, "clip.vision.patch_size", PATCH));
	TRY(gguf_writer_add_u32(w, "clip.vision.embedding_length", p->v_width));
	TRY(gguf_writer_add_u32(w, "clip.vision.feed_forward_length", p->v_ff));
	TRY(gguf_writer_add_u32(w, "clip.vision.block_count", p->v_layers));
	TRY(gguf_writer_add_u32(w, "clip.vision.attention.head_count", p->v_heads));
	TRY(gguf_writer_add_f32(w, "clip.vision.attention.layer_norm_epsilon", 1e-6f));
	TRY(gguf_writer_add_array(w, "clip.vision.image_mean", GGUF_TYPE_FLOAT32, half3, 3));
	TRY(gguf_writer_add_array(w, "clip.vision.image_std", GGUF_TYPE_FLOAT32, half3, 3));
	TRY(gguf_writer_add_u32(w, "clip.vision.projector.scale_factor", 2));
out:
	return rc;
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
		const struct tensor_spec *t = &g_array_index(specs, struct tensor_spec, i);
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

static const struct preset *find_preset(const char *name)
{
	for (size_t i = 0; i < G_N_ELEMENTS(presets); i++)
		if (name && strcmp(presets[i].name, name) == 0)
			return &presets[i];
	return NULL;
}

bool model_gen_preset_known(const char *preset)
{
	return find_preset(preset) != NULL;
}

int model_gen_parse_type(const char *s, uint32_t *type)
{
	static const uint32_t allowed[] = { TENSOR_F32, TENSOR_F16, TENSOR_BF16, TENSOR_Q8_0,
					    TENSOR_Q4_0, TENSOR_Q4_1, TENSOR_Q5_0, TENSOR_Q5_1 };
	for (size_t i = 0; s && i < G_N_ELEMENTS(allowed); i++) {
		if (strcmp(tensor_type_info(allowed[i])->name, s) == 0) {
			*type = allowed[i];
			return 0;
		}
	}
	return -EINVAL;
}

/* Keys, infos, header and payloads into path; the file is removed again if
 * anything fails so no half-written model is left behind. */
static int write_file(const char *path, const struct preset *p, const struct model_gen_options *o,
		      bool lm)
{
	int rc;
	FILE *fp = NULL;
	char *buf = NULL;
	GArray *specs = lm ? lm_specs(p, o->lm_type) : mm_specs(p, o->mm_type);
	struct gguf_writer *w = gguf_writer_create();
	TRY(lm ? lm_keys(w, p, o->lm_type) : mm_keys(w, p, o->mm_type));
	for (guint i = 0; i < specs->len; i++) {
		const struct tensor_spec *t = &g_array_index(specs, struct tensor_spec, i);
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
	TRY(write_tensors(w, fp, specs, o->seed, o->verbose));
	if (fflush(fp) != 0)
		rc = -EIO;
out:
	if (fp && fclose(fp) != 0 && rc == 0)
		rc = -EIO;
	if (fp && rc < 0)
		remove(path);
	g_free(buf);
	gguf_writer_destroy(w);
	g_array_free(specs, TRUE);
	return rc;
}

int model_gen_write_lm(const struct model_gen_options *o, const char *path)
{
	const struct preset *p = find_preset(o->preset);
	return p ? write_file(path, p, o, true) : -EINVAL;
}

int model_gen_write_mmproj(const struct model_gen_options *o, const char *path)
{
	const struct preset *p = find_preset(o->preset);
	return p ? write_file(path, p, o, false) : -EINVAL;
}

int model_gen_values(const char *preset, uint64_t seed, const char *name, uint64_t first,
		     float *out, uint64_t n)
{
	const struct preset *p = find_preset(preset);
	if (!p)
		return -EINVAL;
	int rc = -ENOENT;
	for (int lm = 0; lm < 2 && rc == -ENOENT; lm++) {
		GArray *specs = lm ? lm_specs(p, TENSOR_F32) : mm_specs(p, TENSOR_F32);
		for (guint i = 0; i < specs->len; i++) {
			const struct tensor_spec *t = &g_array_index(specs, struct tensor_spec, i);
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
