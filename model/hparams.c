/* model/hparams.c — LFM2 / LFM2-VL hyperparameters and tensor-shape checks
 * (spec §1.5-§1.8, §3.1, §4.1).
 *
 * Each reader fills the struct from the keys, then walks the tensor table the
 * forward pass uses and checks presence, shape and type, so that vk/ code can
 * index tensors without re-checking. Messages are one line and name the key
 * or tensor, with expected and actual values.
 */
#include "model/hparams.h"

#include "model/gguf.h"
#include "model/quant.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PROJ_LN_EPS 1e-5f /* PyTorch nn.LayerNorm default, not stored (spec §4.10) */
#define MAX_VISION_LAYERS 64

/* Type sets as bit masks over enum tensor_type ids (all < 32). */
#define T(x) (UINT32_C(1) << (x))
#define TYPES_F32 T(TENSOR_F32)
#define TYPES_PATCH (T(TENSOR_F32) | T(TENSOR_F16))
/* Matmul weights: every type of model/quant.h (spec §2.9 lists which occur). */
#define TYPES_WEIGHT (T(TENSOR_F32) | T(TENSOR_F16) | T(TENSOR_BF16) | T(TENSOR_Q4_0) | T(TENSOR_Q4_1) | \
		      T(TENSOR_Q5_0) | T(TENSOR_Q5_1) | T(TENSOR_Q8_0) | T(TENSOR_Q2_K) | T(TENSOR_Q3_K) | \
		      T(TENSOR_Q4_K) | T(TENSOR_Q5_K) | T(TENSOR_Q6_K))

struct ctx {
	const struct gguf_file *f;
	char *err;
	size_t err_size;
};

static int fail(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct ctx *c, const char *fmt, ...)
{
	if (c->err && c->err_size) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->err, c->err_size, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

static const char *type_name(uint32_t type)
{
	const struct tensor_type_info *info = tensor_type_info(type);
	return info ? info->name : "?";
}

static const char *value_type_name(const struct gguf_file *f, const char *key)
{
	static const char *const names[] = { "UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
					     "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64" };
	int64_t i = gguf_find_key(f, key);
	return i < 0 ? "absent" : names[gguf_kv_type(f, (uint64_t)i)];
}

/* A getter's error as a message about key. */
static int key_fail(struct ctx *c, const char *key, int r, const char *want)
{
	if (r == -ENOENT)
		return fail(c, "key '%s' is missing", key);
	if (r == -EMEDIUMTYPE)
		return fail(c, "key '%s' has type %s, expected %s", key, value_type_name(c->f, key), want);
	if (r == -ERANGE)
		return fail(c, "key '%s': value out of range for %s", key, want);
	return fail(c, "key '%s': error %d", key, r);
}

/* A required u32 in [lo, hi]. */
static int get_u32(struct ctx *c, const char *key, uint32_t lo, uint32_t hi, uint32_t *out)
{
	int r = gguf_get_u32(c->f, key, out);
	if (r)
		return key_fail(c, key, r, "an unsigned 32-bit integer");
	if (*out < lo || *out > hi)
		return fail(c, "key '%s' is %" PRIu32 ", expected %" PRIu32 "..%" PRIu32, key, *out, lo, hi);
	return 0;
}

static int get_u32_opt(struct ctx *c, const char *key, uint32_t def, uint32_t *out)
{
	*out = def;
	int r = gguf_get_u32(c->f, key, out);
	if (r == -ENOENT) {
		*out = def;
		return 0;
	}
	return r ? key_fail(c, key, r, "an unsigned 32-bit integer") : 0;
}

/* A required positive finite float. */
static int get_pos_f32(struct ctx *c, const char *key, float *out)
{
	int r = gguf_get_f32(c->f, key, out);
	if (r)
		return key_fail(c, key, r, "FLOAT32");
	if (!isfinite(*out) || *out <= 0)
		return fail(c, "key '%s' is %g, expected a positive number", key, (double)*out);
	return 0;
}

static int get_bool_opt(struct ctx *c, const char *key, bool def, bool *out)
{
	*out = def;
	int r = gguf_get_bool(c->f, key, out);
	if (r == -ENOENT) {
		*out = def;
		return 0;
	}
	return r ? key_fail(c, key, r, "BOOL") : 0;
}

static int check_str(struct ctx *c, const char *key, const char *want)
{
	struct gguf_str s;
	int r = gguf_get_str(c->f, key, &s);
	if (r)
		return key_fail(c, key, r, "STRING");
	if (s.len == strlen(want) && !memcmp(s.ptr, want, s.len))
		return 0;
	/* The value is untrusted: keep the message one printable line. */
	char got[72];
	size_t o = 0;
	uint64_t i = 0;
	for (; i < s.len && o + 5 < sizeof got; i++) {
		unsigned char ch = (unsigned char)s.ptr[i];
		if (ch >= 0x20 && ch < 0x7f && ch != '\'')
			got[o++] = (char)ch;
		else
			o += (size_t)snprintf(got + o, sizeof got - o, "\\x%02x", ch);
	}
	got[o] = '\0';
	return fail(c, "key '%s' is '%s%s', expected '%s'", key, got, i < s.len ? "..." : "", want);
}

static void format_shape(char *buf, size_t size, uint32_t n, const uint64_t *ne)
{
	size_t o = (size_t)snprintf(buf, size, "[");
	for (uint32_t i = 0; i < n && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s%" PRIu64, i ? ", " : "", ne[i]);
	if (o < size)
		snprintf(buf + o, size - o, "]");
}

/* name (printf format with up to one int) must exist with shape ne[0..n) and
 * unused dims 1, and a type in the mask. An absent optional tensor is fine. */
static int check_tensor(struct ctx *c, bool optional, uint32_t types, uint32_t n, const uint64_t *ne,
			const struct gguf_tensor **out, const char *fmt, int layer)
{
	char name[96];
	snprintf(name, sizeof name, fmt, layer);
	const struct gguf_tensor *t = gguf_find_tensor(c->f, name);
	if (out)
		*out = t;
	if (!t)
		return optional ? 0 : fail(c, "tensor '%s' is missing", name);
	bool same = true;
	for (uint32_t i = 0; i < GGUF_MAX_DIMS; i++)
		same = same && t->ne[i] == (i < n ? ne[i] : 1);
	if (!same) {
		char want[96], got[96];
		format_shape(want, sizeof want, n, ne);
		format_shape(got, sizeof got, t->n_dims, t->ne);
		return fail(c, "tensor '%s' has shape %s, expected %s", name, got, want);
	}
	if (t->type >= 32 || !(types & T(t->type))) {
		char list[160] = "";
		size_t o = 0;
		for (uint32_t i = 0; i < 32 && o < sizeof list; i++)
			if (types & T(i))
				o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", o ? ", " : "", type_name(i));
		return fail(c, "tensor '%s' has type %s, expected %s", name, type_name(t->type), list);
	}
	return 0;
}

#define TENSOR1(c, types, a, ...) check_tensor(c, false, types, 1, (const uint64_t[]){ a }, NULL, __VA_ARGS__)
#define TENSOR2(c, types, a, b, ...) check_tensor(c, false, types, 2, (const uint64_t[]){ a, b }, NULL, __VA_ARGS__)

static int lm_keys(struct ctx *c, struct lfm2_lm_hparams *hp)
{
	const struct gguf_file *f = c->f;
	int r;
	if ((r = check_str(c, "general.architecture", "lfm2")) ||
	    (r = get_u32(c, "lfm2.block_count", 1, LFM2_MAX_LAYERS, &hp->n_layer)) ||
	    (r = get_u32(c, "lfm2.embedding_length", 1, 1u << 20, &hp->d_model)) ||
	    (r = get_u32(c, "lfm2.feed_forward_length", 1, 1u << 22, &hp->d_ff)) ||
	    (r = get_u32(c, "lfm2.attention.head_count", 1, 1024, &hp->n_head)) ||
	    (r = get_u32(c, "lfm2.vocab_size", 1, 1u << 24, &hp->n_vocab)) ||
	    (r = get_u32(c, "lfm2.shortconv.l_cache", 1, 16, &hp->l_cache)) ||
	    (r = get_u32_opt(c, "lfm2.context_length", 0, &hp->context_length)) ||
	    (r = get_pos_f32(c, "lfm2.attention.layer_norm_rms_epsilon", &hp->rms_eps)) ||
	    (r = get_pos_f32(c, "lfm2.rope.freq_base", &hp->rope_theta)) ||
	    (r = get_u32_opt(c, "general.file_type", 0, &hp->file_type)))
		return r;

	/* Layer kinds: head_count_kv[i] == 0 is a short-conv layer (spec §1.5). */
	const char *kv_key = "lfm2.attention.head_count_kv";
	struct gguf_array a;
	r = gguf_get_array(f, kv_key, &a);
	if (r)
		return key_fail(c, kv_key, r, "ARRAY of integers");
	if (a.count != hp->n_layer)
		return fail(c, "key '%s' has %" PRIu64 " entries, expected %" PRIu32 " (block_count)", kv_key, a.count, hp->n_layer);
	hp->n_head_kv = 0;
	hp->n_attention_layers = 0;
	for (uint32_t i = 0; i < hp->n_layer; i++) {
		int64_t v;
		r = gguf_array_int(&a, i, &v);
		if (r == -EMEDIUMTYPE)
			return fail(c, "key '%s' is an array of non-integers", kv_key);
		if (r || v < 0 || v > hp->n_head)
			return fail(c, "key '%s'[%" PRIu32 "] is out of range 0..%" PRIu32 " (head_count)", kv_key, i, hp->n_head);
		hp->is_attention[i] = v != 0;
		if (!v)
			continue;
		if (hp->n_head_kv && v != hp->n_head_kv)
			return fail(c, "key '%s'[%" PRIu32 "] is %" PRId64 ", expected %" PRIu32 " like the earlier attention layers",
				    kv_key, i, v, hp->n_head_kv);
		hp->n_head_kv = (uint32_t)v;
		hp->n_attention_layers++;
	}
	if (hp->n_head_kv && hp->n_head % hp->n_head_kv)
		return fail(c, "head_count %" PRIu32 " is not a multiple of head_count_kv %" PRIu32, hp->n_head, hp->n_head_kv);

	/* head_dim = d / n_head unless key_length is stored (spec §1.5). */
	uint32_t kl, vl;
	if ((r = get_u32_opt(c, "lfm2.attention.key_length", 0, &kl)))
		return r;
	if (kl == 0) {
		if (hp->d_model % hp->n_head)
			return fail(c, "embedding_length %" PRIu32 " is not a multiple of head_count %" PRIu32, hp->d_model, hp->n_head);
		kl = hp->d_model / hp->n_head;
	}
	if ((r = get_u32_opt(c, "lfm2.attention.value_length", kl, &vl)))
		return r;
	if (vl != kl)
		return fail(c, "key 'lfm2.attention.value_length' is %" PRIu32 ", expected key_length %" PRIu32, vl, kl);
	hp->head_dim = kl;

	if ((r = get_u32(c, "tokenizer.ggml.bos_token_id", 0, hp->n_vocab - 1, &hp->bos_id)) ||
	    (r = get_u32(c, "tokenizer.ggml.eos_token_id", 0, hp->n_vocab - 1, &hp->eos_id)) ||
	    (r = get_u32_opt(c, "tokenizer.ggml.padding_token_id", hp->eos_id, &hp->pad_id)) ||
	    (r = get_bool_opt(c, "tokenizer.ggml.add_bos_token", false, &hp->add_bos)))
		return r;
	if (hp->pad_id >= hp->n_vocab)
		return fail(c, "key 'tokenizer.ggml.padding_token_id' is %" PRIu32 ", expected 0..%" PRIu32, hp->pad_id, hp->n_vocab - 1);
	if (gguf_get_array(f, "tokenizer.ggml.tokens", &a) == 0 && a.count != hp->n_vocab)
		return fail(c, "key 'tokenizer.ggml.tokens' has %" PRIu64 " entries, expected %" PRIu32 " (vocab_size)", a.count, hp->n_vocab);
	return 0;
}

int lfm2_lm_hparams_read(const struct gguf_file *f, struct lfm2_lm_hparams *hp, char *err, size_t err_size)
{
	struct ctx c = { f, err, err_size };
	memset(hp, 0, sizeof *hp);
	int r = lm_keys(&c, hp);
	if (r)
		return r;
	uint64_t d = hp->d_model, ff = hp->d_ff, V = hp->n_vocab, hd = hp->head_dim;
	/* The LM head is tied to token_embd (spec §1.6); a separate head would
	 * be silently ignored by the model code, so refuse it. */
	if (gguf_find_tensor(f, "output.weight"))
		return fail(&c, "tensor 'output.weight' is present: only a head tied to token_embd.weight is supported");
	if ((r = TENSOR2(&c, TYPES_WEIGHT, d, V, "token_embd.weight", 0)) ||
	    (r = TENSOR1(&c, TYPES_F32, d, "token_embd_norm.weight", 0)))
		return r;
	for (int i = 0; i < (int)hp->n_layer; i++) {
		if ((r = TENSOR1(&c, TYPES_F32, d, "blk.%d.attn_norm.weight", i)) ||
		    (r = TENSOR1(&c, TYPES_F32, d, "blk.%d.ffn_norm.weight", i)) ||
		    (r = TENSOR2(&c, TYPES_WEIGHT, d, ff, "blk.%d.ffn_gate.weight", i)) ||
		    (r = TENSOR2(&c, TYPES_WEIGHT, d, ff, "blk.%d.ffn_up.weight", i)) ||
		    (r = TENSOR2(&c, TYPES_WEIGHT, ff, d, "blk.%d.ffn_down.weight", i)))
			return r;
		if (hp->is_attention[i]) {
			uint64_t q = hp->n_head * hd, kv = hp->n_head_kv * hd;
			if ((r = TENSOR2(&c, TYPES_WEIGHT, d, q, "blk.%d.attn_q.weight", i)) ||
			    (r = TENSOR2(&c, TYPES_WEIGHT, d, kv, "blk.%d.attn_k.weight", i)) ||
			    (r = TENSOR2(&c, TYPES_WEIGHT, d, kv, "blk.%d.attn_v.weight", i)) ||
			    (r = TENSOR2(&c, TYPES_WEIGHT, q, d, "blk.%d.attn_output.weight", i)) ||
			    (r = TENSOR1(&c, TYPES_F32, hd, "blk.%d.attn_q_norm.weight", i)) ||
			    (r = TENSOR1(&c, TYPES_F32, hd, "blk.%d.attn_k_norm.weight", i)))
				return r;
		} else {
			if ((r = TENSOR2(&c, TYPES_WEIGHT, d, 3 * d, "blk.%d.shortconv.in_proj.weight", i)) ||
			    (r = TENSOR2(&c, TYPES_F32, hp->l_cache, d, "blk.%d.shortconv.conv.weight", i)) ||
			    (r = TENSOR2(&c, TYPES_WEIGHT, d, d, "blk.%d.shortconv.out_proj.weight", i)))
				return r;
		}
	}
	return 0;
}

static int vision_keys(struct ctx *c, struct lfm2_vision_hparams *hp)
{
	int r;
	bool has_vision;
	if ((r = check_str(c, "general.architecture", "clip")) ||
	    (r = check_str(c, "clip.projector_type", "lfm2")) ||
	    (r = get_bool_opt(c, "clip.has_vision_encoder", true, &has_vision)))
		return r;
	if (!has_vision)
		return fail(c, "key 'clip.has_vision_encoder' is false: the file has no vision encoder");
	if ((r = get_u32(c, "clip.vision.patch_size", 1, 64, &hp->patch_size)) ||
	    (r = get_u32(c, "clip.vision.embedding_length", 1, 1u << 16, &hp->width)) ||
	    (r = get_u32(c, "clip.vision.feed_forward_length", 1, 1u << 18, &hp->d_ff)) ||
	    (r = get_u32(c, "clip.vision.block_count", 1, MAX_VISION_LAYERS, &hp->n_layer)) ||
	    (r = get_u32(c, "clip.vision.attention.head_count", 1, 1024, &hp->n_head)) ||
	    (r = get_u32(c, "clip.vision.projection_dim", 1, 1u << 20, &hp->projection_dim)) ||
	    (r = get_u32(c, "clip.vision.projector.scale_factor", 1, 8, &hp->scale_factor)) ||
	    (r = get_u32_opt(c, "clip.vision.image_size", 0, &hp->image_size)) ||
	    (r = get_pos_f32(c, "clip.vision.attention.layer_norm_epsilon", &hp->ln_eps)) ||
	    (r = get_bool_opt(c, "clip.use_gelu", false, &hp->use_gelu)) ||
	    (r = get_u32_opt(c, "general.file_type", 0, &hp->file_type)))
		return r;
	if (hp->width % hp->n_head)
		return fail(c, "clip.vision.embedding_length %" PRIu32 " is not a multiple of head_count %" PRIu32, hp->width, hp->n_head);
	hp->head_dim = hp->width / hp->n_head;
	hp->proj_ln_eps = PROJ_LN_EPS;

	static const char *const keys[2] = { "clip.vision.image_mean", "clip.vision.image_std" };
	for (int k = 0; k < 2; k++) {
		struct gguf_array a;
		r = gguf_get_array(c->f, keys[k], &a);
		if (r)
			return key_fail(c, keys[k], r, "ARRAY of FLOAT32");
		if (a.type != GGUF_TYPE_FLOAT32 || a.count != 3)
			return fail(c, "key '%s' must be 3 FLOAT32 values", keys[k]);
		for (int i = 0; i < 3; i++) {
			float v = gguf_array_f32(&a, (uint64_t)i);
			if (!isfinite(v) || (k == 1 && v <= 0))
				return fail(c, "key '%s'[%d] is %g", keys[k], i, (double)v);
			(k ? hp->image_std : hp->image_mean)[i] = v;
		}
	}
	return 0;
}

int lfm2_vision_hparams_read(const struct gguf_file *f, struct lfm2_vision_hparams *hp, char *err, size_t err_size)
{
	struct ctx c = { f, err, err_size };
	memset(hp, 0, sizeof *hp);
	int r = vision_keys(&c, hp);
	if (r)
		return r;
	uint64_t D = hp->width, F = hp->d_ff, p = hp->patch_size;
	uint64_t in = (uint64_t)hp->scale_factor * hp->scale_factor * D; /* pixel-unshuffled width */

	/* n_pos and P come from tensor shapes (spec §1.8); check what they imply. */
	const struct gguf_tensor *pos = gguf_find_tensor(f, "v.position_embd.weight");
	if (!pos)
		return fail(&c, "tensor 'v.position_embd.weight' is missing");
	uint64_t n_pos = pos->ne[1];
	uint64_t grid = (uint64_t)sqrt((double)n_pos);
	while (grid * grid > n_pos)
		grid--;
	while ((grid + 1) * (grid + 1) <= n_pos)
		grid++;
	if (n_pos == 0 || n_pos > 65536 || grid * grid != n_pos)
		return fail(&c, "tensor 'v.position_embd.weight' has %" PRIu64 " positions, expected a square grid", n_pos);
	hp->n_pos = (uint32_t)n_pos;
	hp->pos_grid = (uint32_t)grid;
	const struct gguf_tensor *mm1 = gguf_find_tensor(f, "mm.1.weight");
	if (!mm1)
		return fail(&c, "tensor 'mm.1.weight' is missing");
	if (mm1->ne[1] == 0 || mm1->ne[1] > (1u << 20))
		return fail(&c, "tensor 'mm.1.weight' has %" PRIu64 " outputs", mm1->ne[1]);
	hp->proj_hidden = (uint32_t)mm1->ne[1];
	uint64_t P = hp->proj_hidden;

	const struct gguf_tensor *norm_w;
	if ((r = check_tensor(&c, false, TYPES_PATCH, 4, (const uint64_t[]){ p, p, 3, D }, NULL, "v.patch_embd.weight", 0)) ||
	    (r = TENSOR1(&c, TYPES_F32, D, "v.patch_embd.bias", 0)) ||
	    (r = TENSOR2(&c, TYPES_F32, D, n_pos, "v.position_embd.weight", 0)))
		return r;
	static const char *const lin[4] = { "attn_q", "attn_k", "attn_v", "attn_out" };
	for (int i = 0; i < (int)hp->n_layer; i++) {
		for (int j = 0; j < 4; j++) {
			char w[48], b[48];
			snprintf(w, sizeof w, "v.blk.%%d.%s.weight", lin[j]);
			snprintf(b, sizeof b, "v.blk.%%d.%s.bias", lin[j]);
			if ((r = TENSOR2(&c, TYPES_WEIGHT, D, D, w, i)) || (r = TENSOR1(&c, TYPES_F32, D, b, i)))
				return r;
		}
		if ((r = TENSOR1(&c, TYPES_F32, D, "v.blk.%d.ln1.weight", i)) ||
		    (r = TENSOR1(&c, TYPES_F32, D, "v.blk.%d.ln1.bias", i)) ||
		    (r = TENSOR1(&c, TYPES_F32, D, "v.blk.%d.ln2.weight", i)) ||
		    (r = TENSOR1(&c, TYPES_F32, D, "v.blk.%d.ln2.bias", i)) ||
		    (r = TENSOR2(&c, TYPES_WEIGHT, D, F, "v.blk.%d.ffn_up.weight", i)) ||
		    (r = TENSOR1(&c, TYPES_F32, F, "v.blk.%d.ffn_up.bias", i)) ||
		    (r = TENSOR2(&c, TYPES_WEIGHT, F, D, "v.blk.%d.ffn_down.weight", i)) ||
		    (r = TENSOR1(&c, TYPES_F32, D, "v.blk.%d.ffn_down.bias", i)))
			return r;
	}
	if ((r = TENSOR1(&c, TYPES_F32, D, "v.post_ln.weight", 0)) ||
	    (r = TENSOR1(&c, TYPES_F32, D, "v.post_ln.bias", 0)) ||
	    (r = check_tensor(&c, true, TYPES_F32, 1, (const uint64_t[]){ in }, &norm_w, "mm.input_norm.weight", 0)))
		return r;
	hp->has_input_norm = norm_w != NULL;
	if (norm_w && (r = TENSOR1(&c, TYPES_F32, in, "mm.input_norm.bias", 0)))
		return r;
	if (!norm_w && gguf_find_tensor(f, "mm.input_norm.bias"))
		return fail(&c, "tensor 'mm.input_norm.bias' is present without 'mm.input_norm.weight'");
	if ((r = TENSOR2(&c, TYPES_WEIGHT, in, P, "mm.1.weight", 0)) ||
	    (r = TENSOR1(&c, TYPES_F32, P, "mm.1.bias", 0)) ||
	    (r = TENSOR2(&c, TYPES_WEIGHT, P, hp->projection_dim, "mm.2.weight", 0)) ||
	    (r = TENSOR1(&c, TYPES_F32, hp->projection_dim, "mm.2.bias", 0)))
		return r;
	return 0;
}
