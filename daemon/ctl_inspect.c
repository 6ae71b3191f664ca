/* daemon/ctl_inspect.c — captionctl inspect FILE.gguf [--json]: what a GGUF
 * file holds, as far as the model code cares: architecture, the
 * hyperparameters of "lfm2" and "clip" files (model/hparams), general and
 * tokenizer facts for others, and tensor counts and bytes per type.
 * Exit 0 good file, 1 bad file (one line on stderr: "FILE: byte N: what" or
 * "FILE: what" for a hyperparameter problem), 2 usage.
 */
#include "daemon/captionctl.h"
#include "model/gguf.h"
#include "model/hparams.h"
#include "model/quant.h"

#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Output sink: text lines or one JSON object, built field by field. */
struct out {
	GString *s;
	bool json;
	bool first; /* no comma before the next JSON member */
	int depth;
};

static void json_string(GString *s, const char *p, size_t len)
{
	/* File strings are untrusted bytes: make them valid UTF-8 first. */
	char *valid = g_utf8_make_valid(p, (gssize)len);
	g_string_append_c(s, '"');
	for (const unsigned char *c = (const unsigned char *)valid; *c; c++) {
		if (*c == '"' || *c == '\\')
			g_string_append_printf(s, "\\%c", *c);
		else if (*c < 0x20 || *c == 0x7f)
			g_string_append_printf(s, "\\u%04x", *c);
		else
			g_string_append_c(s, (char)*c);
	}
	g_string_append_c(s, '"');
	g_free(valid);
}

/* Text output: printable, one line (control bytes escaped). */
static void text_string(GString *s, const char *p, size_t len)
{
	char *valid = g_utf8_make_valid(p, (gssize)len);
	for (const unsigned char *c = (const unsigned char *)valid; *c; c++) {
		if (*c < 0x20 || *c == 0x7f)
			g_string_append_printf(s, "\\x%02x", *c);
		else
			g_string_append_c(s, (char)*c);
	}
	g_free(valid);
}

static void member(struct out *o, const char *name)
{
	if (o->json) {
		if (!o->first)
			g_string_append_c(o->s, ',');
		o->first = false;
		json_string(o->s, name, strlen(name));
		g_string_append_c(o->s, ':');
	} else {
		g_string_append_printf(o->s, "%*s%s:", 2 * o->depth, "", name);
	}
}

static void put_u64(struct out *o, const char *name, uint64_t v)
{
	member(o, name);
	g_string_append_printf(o->s, o->json ? "%" PRIu64 : " %" PRIu64 "\n", v);
}

static void put_f32(struct out *o, const char *name, float v)
{
	member(o, name);
	g_string_append_printf(o->s, o->json ? "%.9g" : " %g\n", (double)v);
}

static void put_bool(struct out *o, const char *name, bool v)
{
	member(o, name);
	g_string_append_printf(o->s, o->json ? "%s" : " %s\n", v ? "true" : "false");
}

static void put_str(struct out *o, const char *name, const char *p, size_t len)
{
	member(o, name);
	if (o->json) {
		json_string(o->s, p, len);
	} else {
		g_string_append_c(o->s, ' ');
		text_string(o->s, p, len);
		g_string_append_c(o->s, '\n');
	}
}

static void open_object(struct out *o, const char *name)
{
	member(o, name);
	g_string_append(o->s, o->json ? "{" : "\n");
	o->first = true;
	o->depth++;
}

static void close_object(struct out *o)
{
	if (o->json)
		g_string_append_c(o->s, '}');
	o->first = false;
	o->depth--;
}

static void put_key_str(struct out *o, const struct gguf_file *f, const char *key, const char *name)
{
	struct gguf_str s;
	if (gguf_get_str(f, key, &s) == 0)
		put_str(o, name, s.ptr, s.len);
}

static void put_key_u32(struct out *o, const struct gguf_file *f, const char *key, const char *name)
{
	uint32_t v;
	if (gguf_get_u32(f, key, &v) == 0)
		put_u64(o, name, v);
}

static void put_general(struct out *o, const struct gguf_file *f)
{
	open_object(o, "general");
	put_key_str(o, f, "general.name", "name");
	put_key_str(o, f, "general.type", "type");
	put_key_u32(o, f, "general.file_type", "file_type");
	put_key_u32(o, f, "general.quantization_version", "quantization_version");
	close_object(o);
	struct gguf_str model;
	if (gguf_get_str(f, "tokenizer.ggml.model", &model))
		return;
	open_object(o, "tokenizer");
	put_str(o, "model", model.ptr, model.len);
	put_key_str(o, f, "tokenizer.ggml.pre", "pre");
	struct gguf_array a;
	if (gguf_get_array(f, "tokenizer.ggml.tokens", &a) == 0)
		put_u64(o, "tokens", a.count);
	if (gguf_get_array(f, "tokenizer.ggml.merges", &a) == 0)
		put_u64(o, "merges", a.count);
	put_key_u32(o, f, "tokenizer.ggml.bos_token_id", "bos_token_id");
	put_key_u32(o, f, "tokenizer.ggml.eos_token_id", "eos_token_id");
	put_key_u32(o, f, "tokenizer.ggml.padding_token_id", "padding_token_id");
	bool b;
	if (gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &b) == 0)
		put_bool(o, "add_bos_token", b);
	close_object(o);
}

static void put_lm(struct out *o, const struct lfm2_lm_hparams *hp)
{
	open_object(o, "hparams");
	put_u64(o, "n_layer", hp->n_layer);
	char kinds[LFM2_MAX_LAYERS + 1];
	for (uint32_t i = 0; i < hp->n_layer; i++)
		kinds[i] = hp->is_attention[i] ? 'A' : 'C';
	kinds[hp->n_layer] = '\0';
	put_str(o, "layers", kinds, hp->n_layer);
	put_u64(o, "n_attention_layers", hp->n_attention_layers);
	put_u64(o, "d_model", hp->d_model);
	put_u64(o, "d_ff", hp->d_ff);
	put_u64(o, "n_head", hp->n_head);
	put_u64(o, "n_head_kv", hp->n_head_kv);
	put_u64(o, "head_dim", hp->head_dim);
	put_u64(o, "n_vocab", hp->n_vocab);
	put_u64(o, "l_cache", hp->l_cache);
	put_u64(o, "context_length", hp->context_length);
	put_f32(o, "rms_eps", hp->rms_eps);
	put_f32(o, "rope_theta", hp->rope_theta);
	put_u64(o, "bos_id", hp->bos_id);
	put_u64(o, "eos_id", hp->eos_id);
	put_u64(o, "pad_id", hp->pad_id);
	put_bool(o, "add_bos", hp->add_bos);
	close_object(o);
}

static void put_vision(struct out *o, const struct lfm2_vision_hparams *hp)
{
	open_object(o, "hparams");
	put_u64(o, "patch_size", hp->patch_size);
	put_u64(o, "width", hp->width);
	put_u64(o, "d_ff", hp->d_ff);
	put_u64(o, "n_layer", hp->n_layer);
	put_u64(o, "n_head", hp->n_head);
	put_u64(o, "head_dim", hp->head_dim);
	put_u64(o, "n_pos", hp->n_pos);
	put_u64(o, "pos_grid", hp->pos_grid);
	put_u64(o, "image_size", hp->image_size);
	put_u64(o, "projection_dim", hp->projection_dim);
	put_u64(o, "scale_factor", hp->scale_factor);
	put_u64(o, "proj_hidden", hp->proj_hidden);
	put_bool(o, "has_input_norm", hp->has_input_norm);
	put_bool(o, "use_gelu", hp->use_gelu);
	put_f32(o, "ln_eps", hp->ln_eps);
	put_f32(o, "proj_ln_eps", hp->proj_ln_eps);
	for (int k = 0; k < 2; k++) {
		member(o, k ? "image_std" : "image_mean");
		const float *v = k ? hp->image_std : hp->image_mean;
		g_string_append_printf(o->s, o->json ? "[%.9g,%.9g,%.9g]" : " %g %g %g\n",
				       (double)v[0], (double)v[1], (double)v[2]);
	}
	close_object(o);
}

static void put_tensors(struct out *o, const struct gguf_file *f)
{
	uint64_t n = gguf_tensor_count(f), total = 0;
	uint64_t count[32] = { 0 }, bytes[32] = { 0 };
	for (uint64_t i = 0; i < n; i++) {
		const struct gguf_tensor *t = gguf_tensor_at(f, i);
		/* Known types only (validated), all ids < 32. */
		count[t->type & 31]++;
		bytes[t->type & 31] += t->n_bytes;
		total += t->n_bytes;
	}
	put_u64(o, "tensor_count", n);
	put_u64(o, "tensor_bytes", total);
	open_object(o, "types");
	for (uint32_t ty = 0; ty < 32; ty++) {
		if (!count[ty])
			continue;
		const char *name = tensor_type_info(ty)->name;
		if (o->json) {
			open_object(o, name);
			put_u64(o, "tensors", count[ty]);
			put_u64(o, "bytes", bytes[ty]);
			close_object(o);
		} else {
			g_string_append_printf(o->s, "  %-5s %6" PRIu64 " tensors %14" PRIu64 " bytes\n", name, count[ty], bytes[ty]);
		}
	}
	close_object(o);
}

static int usage(FILE *out, int status)
{
	fprintf(out, "usage: captionctl inspect FILE.gguf [--json]\n"
		     "Print a GGUF file's architecture, hyperparameters, tensor count and\n"
		     "bytes per tensor type. Exit 1 with a one-line reason for a bad file.\n");
	return status;
}

int ctl_inspect_main(int argc, char **argv)
{
	const char *path = NULL;
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return usage(stdout, 0);
		else if (argv[i][0] == '-' || path)
			return usage(stderr, 2);
		else
			path = argv[i];
	}
	if (!path)
		return usage(stderr, 2);

	struct gguf_file *f = NULL;
	struct gguf_error err;
	int r = gguf_file_open(path, &f, &err);
	if (r) {
		char line[1024];
		gguf_error_format(&err, path, line, sizeof line);
		fprintf(stderr, "%s\n", line);
		return 1;
	}

	struct out o = { .s = g_string_new(NULL), .json = json, .first = true };
	if (json)
		g_string_append_c(o.s, '{');
	put_str(&o, "file", path, strlen(path));
	put_u64(&o, "version", gguf_version(f));
	put_u64(&o, "alignment", gguf_alignment(f));
	put_u64(&o, "kv_count", gguf_kv_count(f));
	put_u64(&o, "data_offset", gguf_data_offset(f));
	put_u64(&o, "file_size", gguf_file_size(f));
	struct gguf_str arch = { "", 0 };
	gguf_get_str(f, "general.architecture", &arch);
	put_str(&o, "architecture", arch.ptr, arch.len);

	char msg[256] = "";
	r = 0;
	if (arch.len == 4 && !memcmp(arch.ptr, "lfm2", 4)) {
		struct lfm2_lm_hparams hp;
		r = lfm2_lm_hparams_read(f, &hp, msg, sizeof msg);
		if (!r)
			put_lm(&o, &hp);
	} else if (arch.len == 4 && !memcmp(arch.ptr, "clip", 4)) {
		struct lfm2_vision_hparams hp;
		r = lfm2_vision_hparams_read(f, &hp, msg, sizeof msg);
		if (!r)
			put_vision(&o, &hp);
	}
	if (!r) {
		put_general(&o, f);
		put_tensors(&o, f);
		if (json)
			g_string_append(o.s, "}\n");
		fputs(o.s->str, stdout);
	} else {
		fprintf(stderr, "%s: %s\n", path, msg);
	}
	g_string_free(o.s, TRUE);
	gguf_file_destroy(f);
	return r ? 1 : 0;
}
