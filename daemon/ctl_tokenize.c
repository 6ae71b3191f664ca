/* daemon/ctl_tokenize.c — captionctl tokenize: text on stdin → ids, or ids →
 * text with --decode, with a model's own tokenizer. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "daemon/captionctl.h"
#include "model/gguf.h"
#include "model/tokenizer.h"

static GString *read_all(FILE *in)
{
	GString *s = g_string_new(NULL);
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		g_string_append_len(s, buf, (gssize)n);
	if (ferror(in)) {
		g_string_free(s, TRUE);
		return NULL;
	}
	return s;
}

int ctl_tokenizer_open(const char *path, struct tokenizer **out)
{
	struct gguf_file *f;
	struct gguf_error gerr = { 0 };
	char msg[512];
	int ret = gguf_file_open(path, &f, &gerr);
	*out = NULL;
	if (ret < 0) {
		if (ret == -EBADMSG)
			gguf_error_format(&gerr, path, msg, sizeof(msg));
		else
			snprintf(msg, sizeof(msg), "%s: %s", path, g_strerror(-ret));
		fprintf(stderr, "captionctl: %s\n", msg);
		return ret;
	}
	ret = tokenizer_create_from_gguf(f, out, msg, sizeof(msg));
	if (ret < 0)
		fprintf(stderr, "captionctl: %s: %s\n", path, msg);
	gguf_file_destroy(f);
	return ret;
}

static int decode(struct tokenizer *tok, const char *in, unsigned flags)
{
	GArray *ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
	GString *out = g_string_new(NULL);
	int status = 0;
	gchar **words = g_strsplit_set(in, " \t\r\n,", -1);
	for (gchar **w = words; *w; w++) {
		if (!**w)
			continue;
		gint64 v;
		if (!g_ascii_string_to_signed(*w, 10, 0, G_MAXINT32, &v, NULL)) {
			fprintf(stderr, "captionctl tokenize: '%s' is not a token id\n", *w);
			status = 1;
			goto out;
		}
		int32_t id = (int32_t)v;
		g_array_append_val(ids, id);
	}
	if (tokenizer_decode(tok, (int32_t *)ids->data, ids->len, flags, out) < 0) {
		fprintf(stderr, "captionctl tokenize: a token id is not below the vocabulary size %u\n",
			tokenizer_vocab_size(tok));
		status = 1;
		goto out;
	}
	fwrite(out->str, 1, out->len, stdout);
out:
	g_strfreev(words);
	g_string_free(out, TRUE);
	g_array_free(ids, TRUE);
	return status;
}

int ctl_tokenize_main(int argc, char **argv)
{
	gchar *model = NULL;
	gboolean do_decode = FALSE, no_special = FALSE, no_bos = FALSE;
	GOptionEntry entries[] = {
		{ "model", 'm', 0, G_OPTION_ARG_FILENAME, &model, "model (or vocab-only) GGUF", "FILE.gguf" },
		{ "decode", 'd', 0, G_OPTION_ARG_NONE, &do_decode, "read ids, print text (exactly, no newline added)", NULL },
		{ "no-special", 0, 0, G_OPTION_ARG_NONE, &no_special,
		  "encode: treat control-token texts as plain text; decode: leave control tokens out", NULL },
		{ "no-bos", 0, 0, G_OPTION_ARG_NONE, &no_bos, "encode: do not add BOS even if the GGUF asks for it", NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	GOptionContext *ctx = g_option_context_new("- text on stdin to token ids on stdout (or back with --decode)");
	GError *err = NULL;
	struct tokenizer *tok = NULL;
	GString *in = NULL;
	int status = 2;

	g_option_context_add_main_entries(ctx, entries, NULL);
	g_option_context_set_description(ctx,
		"Encoding prints the ids space-separated on one line. The text is taken byte for byte\n"
		"(a trailing newline is text too); invalid UTF-8 becomes U+FFFD as in Python's\n"
		"errors='replace'. Control tokens (e.g. <|im_start|>) are recognised in the text and\n"
		"BOS is added when the GGUF says tokenizer.ggml.add_bos_token.\n");
	if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
		fprintf(stderr, "captionctl tokenize: %s\n", err->message);
		goto out;
	}
	if (!model || argc != 1) {
		fprintf(stderr, "captionctl tokenize: usage: captionctl tokenize --model FILE.gguf [--decode] [--no-special] [--no-bos]\n");
		goto out;
	}
	status = 1;
	if (ctl_tokenizer_open(model, &tok) < 0)
		goto out;
	if (!(in = read_all(stdin))) {
		fprintf(stderr, "captionctl tokenize: reading stdin: %s\n", g_strerror(errno));
		goto out;
	}
	if (do_decode) {
		status = decode(tok, in->str, no_special ? 0 : TOKENIZER_DECODE_SPECIAL);
		goto out;
	}
	unsigned flags = tokenizer_default_flags(tok);
	if (no_special)
		flags &= ~(unsigned)TOKENIZER_PARSE_SPECIAL;
	if (no_bos)
		flags &= ~(unsigned)TOKENIZER_ADD_BOS;
	GArray *ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
	if (tokenizer_encode(tok, in->str, in->len, flags, ids) < 0) {
		fprintf(stderr, "captionctl tokenize: out of memory\n");
	} else {
		for (guint i = 0; i < ids->len; i++)
			printf("%s%d", i ? " " : "", g_array_index(ids, int32_t, i));
		printf("\n");
		status = 0;
	}
	g_array_free(ids, TRUE);
out:
	if (in)
		g_string_free(in, TRUE);
	tokenizer_destroy(tok);
	g_clear_error(&err);
	g_option_context_free(ctx);
	g_free(model);
	return status;
}
