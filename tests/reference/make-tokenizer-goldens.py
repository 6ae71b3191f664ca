#!/usr/bin/env python3
"""Make the LFM2 tokenizer goldens: a test vocabulary and its encodings by the
Hugging Face `tokenizers` library configured the way LFM2's tokenizer is.

    python3 tests/reference/make-tokenizer-goldens.py OUTDIR

Writes into OUTDIR:
  lfm2-test-vocab.gguf  vocab-only GGUF (tokenizer.ggml.* keys as spec §1.5)
  lfm2-test.inp         test texts, raw bytes, separated by "\\n__ggml_vocab_test__\\n"
                        (the format of llama.cpp's ggml-vocab-*.gguf.inp)
  lfm2-test.out         one line per text: the ids HF produced, space-separated
  lfm2-test.pieces      one line per text: HF's pre-tokenizer pieces (byte-level
                        form, space-separated; special tokens not split out)
  lfm2-test-tokenizer.json  the HF tokenizer itself, for whoever wants to re-check

How the HF tokenizer is configured (LFM2's tokenizer.json could not be read;
this follows the layout of the Llama-3 tokenizer.json, whose pre-tokenizer
llama.cpp maps "lfm2" to, see spec §6 and U4):
  - model: BPE, ignore_merges = true, byte_fallback = false, no unk token
  - pre_tokenizer: Sequence[Split(Llama-3 regex, behavior "Isolated"),
                            ByteLevel(add_prefix_space=false, use_regex=false)]
  - decoder: ByteLevel
  - post_processor: TemplateProcessing "<|startoftext|> $A" (LFM2 adds BOS;
    the GGUF says add_bos_token = true, so the C side adds it from the GGUF)
  - added tokens: the special tokens of spec §5.3 (ids 0..500, special =
    true) and three non-special added tokens (USER_DEFINED in the GGUF)
The vocabulary is trained here with BpeTrainer on the corpus below. Texts are
encoded with add_special_tokens=True (so special-token texts in the input are
recognised and BOS is added). Invalid UTF-8 in a test text is decoded with
errors='replace' before HF sees it: HF only takes str.

Deterministic in its inputs: the corpus and the test texts are in this file.
"""
import json
import struct
import sys

from tokenizers import AddedToken, Regex, Tokenizer, models, pre_tokenizers, trainers

LLAMA3_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
             r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

VOCAB_SIZE = 4000


def special_tokens():
    """Spec §5.3, ids 0..500 in order."""
    t = ["<|pad|>", "<|startoftext|>", "<|endoftext|>", "<|fim_pre|>", "<|fim_mid|>",
         "<|fim_suf|>", "<|im_start|>", "<|im_end|>", "<|tool_list_start|>",
         "<|tool_list_end|>", "<|tool_call_start|>", "<|tool_call_end|>",
         "<|tool_response_start|>", "<|tool_response_end|>"]
    # ids 14, 15 are not described (U8); named like the reserved ones (id - 10).
    t += ["<|reserved_%d|>" % (i - 10) for i in range(14, 396)]
    t.append("<image>")
    for r in range(1, 11):
        for c in range(1, 11):
            t.append("<|img_row_%d_col_%d|>" % (r, c))
    t += ["<|img_thumbnail|>", "<|image_start|>", "<|image_end|>", "<|image_split|>"]
    assert len(t) == 501 and t[396] == "<image>" and t[407] == "<|img_row_2_col_1|>"
    assert t[500] == "<|image_split|>"
    return t


# Non-special added tokens (GGUF USER_DEFINED): overlapping on purpose, so the
# matching order (leftmost-longest) is tested.
USER_DEFINED = ["captiond", "caption", "iondaemon"]
# Normal tokens added to the trained vocabulary by hand (byte-level form).
EXTRA_NORMAL = ["qqqq", " Xylophonist", "\u65e5\u672c\u8a9e"]

CORPUS = """
The quick brown fox jumps over the lazy dog. A camera watches the street and the daemon
writes one sentence for every frame it can keep up with. Descriptions are short sentences that
describe what the image shows: a person walking a dog, two cars waiting at a red light, a
cyclist in the rain. The model reads the picture as patches, turns them into tokens, and the
language model writes the words one after another. It's fast, isn't it? We've measured it,
they're sure, I'd say you'll like it. Numbers: 1, 22, 333, 4444, 55555, 2024-06-01, 3.14159,
100%, $42.50, 7 days a week, 24 hours a day, 1080p at 30 frames per second.
Hello world! Hello, World. HELLO WORLD? hello... world!!! "quoted" 'single' (parens) [brackets]
{braces} <angle> a+b=c, x*y/z - w; path/to/file.txt ~home #hash @user & more | pipe \\ back.
def main(argv):
    for i in range(10):
        if i % 2 == 0:
            print("even", i)
        else:
            return {"odd": i, "list": [1, 2, 3]}
int main(int argc, char **argv) { return argc > 1 ? 0 : 1; }
	tab	separated	values	here
Le renard brun rapide saute par-dessus le chien paresseux. La caméra regarde la rue et
décrit chaque image : une femme qui traverse, un enfant qui joue, l'été à Paris, où l'on
mange des crêpes. Ça marche très bien, n'est-ce pas ? C'était déjà prévu.
Der schnelle braune Fuchs springt über den faulen Hund. Die Kamera beobachtet die Straße
und schreibt für jedes Bild eine Beschreibung: Äpfel, Öl, Übung, Größe, weiß, schön, müde.
Das Wetter ist heute schlecht, aber morgen wird es besser.
El rápido zorro marrón salta sobre el perro perezoso. La cámara mira la calle y describe
cada imagen: un niño con su perro, una mujer en bicicleta, la mañana en España. ¿Qué hora
es? ¡Qué bonito! El señor está en la montaña.
A rápida raposa marrom pula sobre o cão preguiçoso. A câmera observa a rua e descreve cada
imagem: uma criança com o seu cão, uma mulher de bicicleta, o coração de São Paulo. Não é?
الثعلب البني السريع يقفز فوق الكلب الكسول. الكاميرا تراقب الشارع وتكتب وصفا لكل صورة:
رجل يمشي مع كلبه، سيارتان تنتظران عند الإشارة الحمراء، طفل يلعب في الحديقة.
敏捷的棕色狐狸跳过了懒狗。摄像头看着街道，为每一帧写一句描述：一个人在遛狗，两辆车在等红灯，
一个孩子在公园里玩。今天天气很好，我们去北京吃饭吧。中文文本没有空格。
素早い茶色の狐が怠け者の犬を飛び越える。カメラは通りを見て、各フレームの説明を書きます：
犬を散歩させている人、赤信号で待っている二台の車、公園で遊ぶ子供。東京はとても大きい都市です。
빠른 갈색 여우가 게으른 개를 뛰어넘는다. 카메라는 거리를 보고 각 프레임에 대한 설명을 쓴다:
개를 산책시키는 사람, 빨간 신호에서 기다리는 두 대의 차, 공원에서 노는 아이. 서울은 큰 도시입니다.
Emoji: 🙂 😀 🚀 🦙 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ ✅ 🎉🎉🎉 — dashes – and “curly quotes” … ellipsis.
Ελληνικά κείμενα, русский текст, עברית, हिन्दी, ไทย, Tiếng Việt có dấu.
"""

# Test texts (bytes). Cover: the nine languages (LFM2's model card lists en,
# ar, zh, fr, de, ja, ko, es; LFM2.5 adds pt), emoji incl. ZWJ and flags,
# digit runs, code, whitespace runs, contractions, special tokens, invalid UTF-8.
TESTS = [
    b"",
    b" ",
    b"  ",
    b"   ",
    b"\t",
    b"\n",
    b"\n\n",
    b"\n\n\n",
    b"\t\n",
    b"\r\n",
    b" \r\n \n",
    b"Hello world",
    b" Hello world",
    b"Hello World!",
    b"Hello, world! How are you?",
    b"    Hello\n    Hello",
    b" (",
    b"\n =",
    b"' era",
    b"(hello) [world] {x}",
    "The camera sees a dog. It's raining; we're late, they've gone, I'm here, you'll see, he'd go.".encode(),
    b"IT'S WE'RE THEY'VE I'M YOU'LL HE'D 'S 'T 'Re 'vE",
    "Don\u2019t use curly \u2018quotes\u2019 \u201clike this\u201d.".encode(),
    "'\u017f and '\u212a and \u00c5'S".encode(),
    b"3", b"33", b"333", b"3333", b"33333", b"3333333", b"1234567890123",
    b"3.14159 2024-06-01 $42.50 100% 1e-5 0x7F",
    "\u0661\u0662\u0663\u0664 \u0968\u0969 \u2160\u2161 \u00bd \u00b2 \u2460".encode(),  # non-ASCII N
    "Le renard brun saute par-dessus le chien. \u00c7a marche tr\u00e8s bien, n'est-ce pas\u202f?".encode(),
    "Der schnelle braune Fuchs springt \u00fcber den faulen Hund: \u00c4pfel, \u00d6l, Gr\u00f6\u00dfe.".encode(),
    "El r\u00e1pido zorro salta sobre el perro. \u00bfQu\u00e9 hora es? \u00a1Qu\u00e9 bonito!".encode(),
    "A r\u00e1pida raposa pula sobre o c\u00e3o. N\u00e3o \u00e9? S\u00e3o Paulo, cora\u00e7\u00e3o.".encode(),
    "\u0627\u0644\u062b\u0639\u0644\u0628 \u0627\u0644\u0628\u0646\u064a \u0627\u0644\u0633\u0631\u064a\u0639 \u064a\u0642\u0641\u0632\u060c \u0661\u0662\u0663 \u0643\u0644\u0628.".encode(),
    "\u654f\u6377\u7684\u68d5\u8272\u72d0\u72f8\u8df3\u8fc7\u4e86\u61d2\u72d7\u3002\u6211\u60f3\u5728apple\u5de5\u4f5c1314151\u5929\uff5e".encode(),
    "\u7d20\u65e9\u3044\u8336\u8272\u306e\u72d0\u304c\u72ac\u3092\u98db\u3073\u8d8a\u3048\u308b\u3002\u30ab\u30e1\u30e9\u306f\u901a\u308a\u3092\u898b\u308b\u3002".encode(),
    "\ube60\ub978 \uac08\uc0c9 \uc5ec\uc6b0\uac00 \uac8c\uc73c\ub978 \uac1c\ub97c \ub6f0\uc5b4\ub118\ub294\ub2e4. \uc11c\uc6b8\uc740 \ud070 \ub3c4\uc2dc\uc785\ub2c8\ub2e4.".encode(),
    "\u043d\u0435\u0449\u043e \u043d\u0430 \u0411\u044a\u043b\u0433\u0430\u0440\u0441\u043a\u0438 \u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac \u0939\u093f\u0928\u094d\u0926\u0940 \u0e44\u0e17\u0e22".encode(),
    "\u1780\u17b6\u1793\u17cb\u178f\u17c2\u1796\u17b7\u179f\u17c1\u179f\u17a2\u17b6\u1785".encode(),
    "\U0001f680 (normal) \U0001f636\u200d\U0001f32b\ufe0f (zwj) \u2705 \U0001f999\U0001f999 \U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 \U0001f44d\U0001f3fd \U0001f1eb\U0001f1f7 \u2764\ufe0f".encode(),
    b"def main(argv):\n    for i in range(10):\n        print(\"even\", i)  # comment\n\treturn {'a': [1, 2]}\n",
    b"int main(int argc, char **argv) { return argc > 1 ? 0 : 1; }\n",
    b"x==y && a!=b || c<=d ... !!!!!! ?????? ------======= ''''''```````\"\"\"\"",
    b"a  b   c    d\t\te \t f\n\n\ng \r\n\r\n h   ",
    b"\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n",
    "\u00a0non\u00a0breaking\u3000ideographic\u2003em\u2028line\u2029para\u0085nel\u000bvt\u000cff".encode(),
    b"\x1c\x1d\x1e\x1f info separators \x7f del \x00 nul",
    "e\u0301 combining a\u0308 \u0915\u094d\u0937 marks \u05d0\u05b8".encode(),
    # special and added tokens
    b"<|im_start|>user\n<image>Describe this image.<|im_end|>\n<|im_start|>assistant\n",
    b"<|startoftext|><|im_start|>system\nYou are a helpful assistant.<|im_end|>\n",
    b"<|image_start|><image><image><|img_row_1_col_2|><|img_row_10_col_10|><|img_thumbnail|><|image_end|>",
    b"<|im_start|<|im_end|>>|im_start|> <|reserved_6|><|reserved_385|> <|unknown|> <im_start>",
    b"captiond caption captions captiondaemon iondaemon xcaptiondx",
    b"The captiond daemon writes a caption.",
    # invalid UTF-8 (decoded with errors='replace')
    b"abc\xffdef",
    b"\x80\x80 lone continuation",
    b"truncated \xe2\x82 three-byte, \xf0\x9f\x98 four-byte, end \xe2",
    b"overlong \xc0\xaf \xe0\x80\xaf surrogate \xed\xa0\x80 too big \xf4\x90\x80\x80 \xf5\xff",
    b"mixed \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa \xe8\xaa\x9e ok",
    "\U0001f600".encode()[:3] + b"x" + "\U0001f600".encode(),
    b"\xef\xbf\xbd literal replacement char",
    # whitespace classes where GLib and the references could differ, folding
    "a\u0085\u0085b a \u000b b x\u001c\u001c y \u0085 \u0085\n x \u00a0 y \u3000\u3000z \u200b\u200bw \ufeffv".encode(),
    "'\u017fand '\u017fT '\u212ave \u0130'LL".encode(),
    # a longer mixed paragraph
    ("Hello, y'all! How are you \U0001f601 ?\u6211\u60f3\u5728apple\u5de5\u4f5c1314151\u5929\uff5e "
     "Ca\u0323\u0302 Vi\u1ec7t \u2014 \u201ccurly\u201d \u2026 \u00bfS\u00ed? \u00c4\u00d6\u00dc "
     "\u0645\u0631\u062d\u0628\u0627 \u3053\u3093\u306b\u3061\u306f \uc548\ub155\ud558\uc138\uc694 "
     "\u4f60\u597d 3333333 x\ty\n\n  z").encode(),
]

SEP = b"\n__ggml_vocab_test__\n"


def build_tokenizer():
    specials = special_tokens()
    pre = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_RE), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, min_frequency=2,
                                  special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    lines = CORPUS.split("\n")
    t.train_from_iterator(lines * 3, trainer)
    trained = json.loads(t.to_str())
    vocab = trained["model"]["vocab"]
    merges = trained["model"]["merges"]
    for i, s in enumerate(specials):
        assert vocab[s] == i, (s, vocab.get(s), i)
    # Tokens no merge builds (LFM2's vocabulary has such; a trained one has
    # none): only ignore_merges emits them whole.
    bl = byte_level_map()
    for text in EXTRA_NORMAL:
        e = "".join(bl[b] for b in text.encode())
        assert e not in vocab
        vocab[e] = len(vocab)
    n_model = len(vocab)
    assert sorted(vocab.values()) == list(range(n_model))
    for u in USER_DEFINED:
        assert u not in vocab, "user-defined token %r was learned by the trainer" % u

    added = [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, s in enumerate(specials)]
    added += [{"id": n_model + k, "content": s, "single_word": False, "lstrip": False,
               "rstrip": False, "normalized": True, "special": False}
              for k, s in enumerate(USER_DEFINED)]
    bos = specials[1]
    cfg = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_RE}, "behavior": "Isolated",
             "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
             "use_regex": False}]},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos, "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": bos, "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": bos, "type_id": 1}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {bos: {"id": bos, "ids": [1], "tokens": [bos]}},
        },
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
                  "vocab": vocab, "merges": merges},
    }
    tok = Tokenizer.from_str(json.dumps(cfg))
    for k, s in enumerate(USER_DEFINED):
        assert tok.token_to_id(s) == n_model + k
    merges_txt = [m if isinstance(m, str) else "%s %s" % (m[0], m[1]) for m in merges]
    id_to_tok = {i: s for s, i in vocab.items()}
    tokens = [id_to_tok[i] for i in range(n_model)] + USER_DEFINED
    types = [3 if i < len(specials) else 1 for i in range(n_model)] + [4] * len(USER_DEFINED)
    # Texts on which ignore_merges changes the result (a token that the
    # merges would not build from its bytes), found by comparing with a copy
    # that has ignore_merges off.
    cfg_off = json.loads(json.dumps(cfg))
    cfg_off["model"]["ignore_merges"] = False
    tok_off = Tokenizer.from_str(json.dumps(cfg_off))
    found = []
    byte_dec = {c: b for b, c in byte_level_map().items()}
    for i in range(len(specials), n_model):
        raw = bytes(byte_dec[c] for c in id_to_tok[i])
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if tok.encode(text).ids != tok_off.encode(text).ids:
            found.append(text)
        if len(found) == 6:
            break
    print("texts where ignore_merges matters:", found)
    return tok, cfg, tokens, types, merges_txt, found


def byte_level_map():
    """GPT-2 byte -> character (spec §6.4)."""
    keep = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    m, n = {}, 0
    for b in range(256):
        if b in keep:
            m[b] = chr(b)
        else:
            m[b] = chr(0x100 + n)
            n += 1
    return m


# --- a small GGUF v3 writer (KV pairs only; a vocab-only file has no tensors) ---
T_U32, T_I32, T_BOOL, T_STR, T_ARR = 4, 5, 7, 8, 9


def gguf_str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def gguf_kv(key, typ, val, elem=None):
    out = gguf_str(key) + struct.pack("<I", typ)
    if typ == T_U32:
        out += struct.pack("<I", val)
    elif typ == T_BOOL:
        out += struct.pack("<B", 1 if val else 0)
    elif typ == T_STR:
        out += gguf_str(val)
    elif typ == T_ARR:
        out += struct.pack("<IQ", elem, len(val))
        if elem == T_STR:
            out += b"".join(gguf_str(v) for v in val)
        elif elem == T_I32:
            out += struct.pack("<%di" % len(val), *val)
        else:
            raise ValueError(elem)
    else:
        raise ValueError(typ)
    return out


def write_gguf(path, tokens, types, merges):
    kvs = [
        gguf_kv("general.architecture", T_STR, "lfm2"),
        gguf_kv("general.name", T_STR, "captiond lfm2 tokenizer test vocabulary"),
        gguf_kv("tokenizer.ggml.model", T_STR, "gpt2"),
        gguf_kv("tokenizer.ggml.pre", T_STR, "lfm2"),
        gguf_kv("tokenizer.ggml.tokens", T_ARR, tokens, T_STR),
        gguf_kv("tokenizer.ggml.token_type", T_ARR, types, T_I32),
        gguf_kv("tokenizer.ggml.merges", T_ARR, merges, T_STR),
        gguf_kv("tokenizer.ggml.bos_token_id", T_U32, 1),
        gguf_kv("tokenizer.ggml.eos_token_id", T_U32, 7),
        gguf_kv("tokenizer.ggml.padding_token_id", T_U32, 0),
        gguf_kv("tokenizer.ggml.add_bos_token", T_BOOL, True),
        gguf_kv("tokenizer.ggml.add_eos_token", T_BOOL, False),
    ]
    data = b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs)) + b"".join(kvs)
    data += b"\0" * ((-len(data)) % 32)
    with open(path, "wb") as f:
        f.write(data)


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "."
    tok, cfg, tokens, types, merges, ignore_merges_texts = build_tokenizer()
    write_gguf(outdir + "/lfm2-test-vocab.gguf", tokens, types, merges)
    with open(outdir + "/lfm2-test-tokenizer.json", "w", encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=1)
    inp = b""
    out = ""
    pieces = ""
    tests = TESTS + [t.encode() for t in ignore_merges_texts]
    tests.append(" ".join(ignore_merges_texts).encode())
    for t in tests:
        assert SEP not in t
        text = t.decode("utf-8", errors="replace")
        ids = tok.encode(text, add_special_tokens=True).ids
        inp += t + SEP
        out += "".join(" %d" % i for i in ids) + "\n"
        # Byte-level pieces contain no raw space or newline: one line each.
        pieces += " ".join(p for p, _ in tok.pre_tokenizer.pre_tokenize_str(text)) + "\n"
    with open(outdir + "/lfm2-test.inp", "wb") as f:
        f.write(inp)
    with open(outdir + "/lfm2-test.out", "w") as f:
        f.write(out)
    with open(outdir + "/lfm2-test.pieces", "w", encoding="utf-8") as f:
        f.write(pieces)
    import tokenizers
    print("tokenizers %s: vocab %d (+%d added), %d merges, %d tests"
          % (tokenizers.__version__, len(tokens) - len(USER_DEFINED), len(USER_DEFINED),
             len(merges), len(tests)))


if __name__ == "__main__":
    main()
