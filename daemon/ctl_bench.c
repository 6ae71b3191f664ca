/* daemon/ctl_bench.c — captionctl bench: benchmarks that print one JSON
 * object on stdout. One sub-benchmark per static function (tokenizer now;
 * lm, vision, caption later). Speed is measured here, never asserted. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "daemon/captionctl.h"
#include "model/tokenizer.h"

/* Multilingual text for the tokenizer: LFM2's languages, code, numbers,
 * emoji. Repeated with a counter to about 1 MiB so the measurement is not one
 * short call; the piece cache sees the repetition, as it would in real use. */
static const char bench_text[] =
	"The camera watches the street and the daemon writes one sentence for every frame it keeps up with: "
	"a person walking a dog, two cars waiting at a red light, a cyclist in the rain. It's 07:45, 12.5 km/h.\n"
	"La caméra regarde la rue et décrit chaque image : une femme traverse, un enfant joue près de l'école.\n"
	"Die Kamera beobachtet die Straße: Äpfel, Öl und Größe — alles wird beschrieben, Bild für Bild.\n"
	"La cámara mira la calle y describe cada imagen: un niño con su perro, ¿qué hora es? ¡Qué bonito!\n"
	"A câmera observa a rua e descreve cada imagem: uma criança com o seu cão, o coração de São Paulo.\n"
	"الكاميرا تراقب الشارع وتكتب وصفا لكل صورة: رجل يمشي مع كلبه، وسيارتان تنتظران عند الإشارة.\n"
	"摄像头看着街道，为每一帧写一句描述：一个人在遛狗，两辆车在等红灯，一个孩子在公园里玩。\n"
	"カメラは通りを見て、各フレームの説明を書きます：犬を散歩させている人、赤信号で待っている車。\n"
	"카메라는 거리를 보고 각 프레임에 대한 설명을 쓴다: 개를 산책시키는 사람, 빨간 신호의 차.\n"
	"def caption(frame):\n    return model.generate(frame, max_tokens=64)  # 🚀 👍🏽 👨‍👩‍👧\n\n";

/* s as a JSON string body (quotes, backslashes and controls escaped). */
static gchar *json_escape(const char *s)
{
	GString *o = g_string_new(NULL);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			g_string_append_printf(o, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			g_string_append_printf(o, "\\u%04x", (unsigned char)*s);
		else
			g_string_append_c(o, *s);
	}
	return g_string_free(o, FALSE);
}

static double now_s(void)
{
	return (double)g_get_monotonic_time() / 1e6;
}

static int bench_tokenizer(int argc, char **argv)
{
	gchar *model = NULL;
	gdouble seconds = 3.0;
	GOptionEntry entries[] = {
		{ "model", 'm', 0, G_OPTION_ARG_FILENAME, &model, "model (or vocab-only) GGUF", "FILE.gguf" },
		{ "seconds", 's', 0, G_OPTION_ARG_DOUBLE, &seconds, "time to spend encoding (default 3)", "N" },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	GOptionContext *ctx = g_option_context_new("- encode/decode speed of a model's tokenizer, as JSON");
	GError *err = NULL;
	struct tokenizer *tok = NULL;
	GString *text = g_string_new(NULL);
	GArray *ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
	GString *dec = g_string_new(NULL);
	int status = 2;

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
		fprintf(stderr, "captionctl bench tokenizer: %s\n", err->message);
		goto out;
	}
	if (!model || argc != 1 || !(seconds > 0 && seconds <= 3600)) {
		fprintf(stderr, "captionctl bench tokenizer: usage: --model FILE.gguf [--seconds N]\n");
		goto out;
	}
	status = 1;
	if (ctl_tokenizer_open(model, &tok) < 0)
		goto out;
	for (unsigned i = 0; text->len < (1u << 20); i++)
		g_string_append_printf(text, "%s[%u]\n", bench_text, i);

	unsigned flags = tokenizer_default_flags(tok);
	double t0 = now_s();
	if (tokenizer_encode(tok, text->str, text->len, flags, ids) < 0)
		goto out;
	double first_s = now_s() - t0;
	guint n_tokens = ids->len;

	unsigned iters = 0;
	t0 = now_s();
	double t = t0;
	do {
		g_array_set_size(ids, 0);
		if (tokenizer_encode(tok, text->str, text->len, flags, ids) < 0)
			goto out;
		iters++;
		t = now_s();
	} while (t - t0 < seconds);
	double enc_s = (t - t0) / iters;

	unsigned dec_iters = 0;
	t0 = now_s();
	do {
		g_string_truncate(dec, 0);
		tokenizer_decode(tok, (int32_t *)ids->data, ids->len, TOKENIZER_DECODE_SPECIAL, dec);
		dec_iters++;
		t = now_s();
	} while (t - t0 < seconds / 4);
	double dec_s = (t - t0) / dec_iters;

	/* decode(encode(x)) is x, after the BOS text when BOS was added */
	GString *want = g_string_new(NULL);
	if (flags & TOKENIZER_ADD_BOS)
		tokenizer_token_bytes(tok, tokenizer_bos(tok), TOKENIZER_DECODE_SPECIAL, want);
	g_string_append_len(want, text->str, (gssize)text->len);
	bool same = g_string_equal(want, dec);
	g_string_free(want, TRUE);

	gchar *model_json = json_escape(model);
	printf("{\"class\":\"bench\",\"bench\":\"tokenizer\",\"model\":\"%s\",\"vocab\":%u,"
	       "\"text_bytes\":%zu,\"tokens\":%u,\"iterations\":%u,"
	       "\"first_encode_ms\":%.3f,\"encode_ms\":%.3f,\"encode_mb_s\":%.2f,\"encode_tokens_s\":%.0f,"
	       "\"decode_ms\":%.3f,\"decode_mb_s\":%.2f,\"roundtrip_equal\":%s}\n",
	       model_json, tokenizer_vocab_size(tok), text->len, n_tokens, iters,
	       first_s * 1e3, enc_s * 1e3, (double)text->len / enc_s / 1e6, n_tokens / enc_s,
	       dec_s * 1e3, (double)dec->len / dec_s / 1e6, same ? "true" : "false");
	g_free(model_json);
	status = 0;
out:
	g_string_free(dec, TRUE);
	g_array_free(ids, TRUE);
	g_string_free(text, TRUE);
	tokenizer_destroy(tok);
	g_clear_error(&err);
	g_option_context_free(ctx);
	g_free(model);
	return status;
}

struct bench {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *summary;
};

static const struct bench benches[] = {
	{ "tokenizer", bench_tokenizer, "encode/decode speed: --model FILE.gguf [--seconds N]" },
	{ "vision", ctl_bench_vision_main, "encoder ms per frame: --mmproj MM.gguf [--sizes WxH,..] [--batches 1,4,16]" },
	{ "caption", ctl_bench_caption_main, "frame-to-caption latency: --model LM.gguf --mmproj MM.gguf [--tokens 32]" },
};

int ctl_bench_main(int argc, char **argv)
{
	size_t n = sizeof(benches) / sizeof(benches[0]);
	if (argc >= 2) {
		for (size_t i = 0; i < n; i++)
			if (!strcmp(argv[1], benches[i].name))
				return benches[i].main(argc - 1, argv + 1);
	}
	FILE *out = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? stdout : stderr;
	fprintf(out, "usage: captionctl bench NAME [ARGS...]\n\nbenchmarks (each prints one JSON object):\n");
	for (size_t i = 0; i < n; i++)
		fprintf(out, "  %-10s %s\n", benches[i].name, benches[i].summary);
	return out == stdout ? 0 : 2;
}
