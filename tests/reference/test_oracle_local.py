#!/usr/bin/env python3
"""Checks of oracle.py that need no torch: config building, the GGUF -> HF
weight mapping (names and shapes against spec §1.6/§1.8 and the tiny preset
of the contract), the patch-embedding permutation, the prompt layout.

It builds its own stand-in pair in the official layout (random F32 weights,
a small byte-level vocabulary). `--write-fixture DIR` writes that pair
(fixture-lm.gguf, fixture-mmproj.gguf) for a dry run of oracle.py where torch
exists; the goldens themselves are made from make-model's files."""

import os
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("SKIP: numpy not available")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gguf_io as g  # noqa: E402
import oracle  # noqa: E402

D, NH, NKV, FF, V, KINDS = 256, 4, 2, 512, 2048, "CCACCA"
DV, FV, NVL, NVH, P = 128, 256, 2, 2, 256

failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what)


def byte_unicode():
    bs = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def fixture_vocab():
    """Specials 0..500, 256 byte tokens, merges learned on a few sentences."""
    special = ["<|pad|>", "<|startoftext|>", "<|endoftext|>", "<|fim_pre|>",
               "<|fim_mid|>", "<|fim_suf|>", "<|im_start|>", "<|im_end|>",
               "<|tool_list_start|>", "<|tool_list_end|>", "<|tool_call_start|>",
               "<|tool_call_end|>", "<|tool_response_start|>", "<|tool_response_end|>",
               "<|reserved_14|>", "<|reserved_15|>"]
    special += ["<|reserved_%d|>" % (i - 10) for i in range(16, 396)]
    special += ["<image>"]
    special += ["<|img_row_%d_col_%d|>" % (r, c) for r in range(1, 11) for c in range(1, 11)]
    special += ["<|img_thumbnail|>", "<|image_start|>", "<|image_end|>", "<|image_split|>"]
    assert len(special) == 501 and special[396] == "<image>" and special[498] == "<|image_start|>"
    bu = byte_unicode()
    tokens = special + [bu[b] for b in range(256)]
    types = [3] * 501 + [1] * 256
    corpus = ("Describe this image. user assistant The picture shows a red and "
              "blue pattern of squares with stripes in the image. ") * 3
    words = [[bu[b] for b in (" " + w if i else w).encode()] for i, w in enumerate(corpus.split())]
    merges = []
    have = set(tokens)
    while len(tokens) < 700:
        counts = {}
        for wd in words:
            for a, b in zip(wd, wd[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + 1
        if not counts:
            break
        (a, b), _ = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
        merges.append(a + " " + b)
        if a + b not in have:
            tokens.append(a + b)
            types.append(1)
            have.add(a + b)
        for wd in words:
            i = 0
            while i < len(wd) - 1:
                if wd[i] == a and wd[i + 1] == b:
                    wd[i:i + 2] = [a + b]
                i += 1
    while len(tokens) < V:
        tokens.append("[PAD%d]" % len(tokens))
        types.append(5)
    return tokens, types, merges


def write_fixture(lm_path, mm_path, seed=1):
    rng = np.random.default_rng(seed)

    def lin(out, inp):  # numpy (out, in) = GGUF [in, out]
        return (rng.standard_normal((out, inp)) / np.sqrt(inp)).astype(np.float32)

    def norm(n):
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    w = g.GGUFWriter()
    a = "lfm2"
    w.add_string("general.architecture", a)
    w.add_string("general.type", "model")
    w.add_u32(a + ".block_count", len(KINDS))
    w.add_u32(a + ".context_length", 4096)
    w.add_u32(a + ".embedding_length", D)
    w.add_u32(a + ".feed_forward_length", FF)
    w.add_u32(a + ".attention.head_count", NH)
    w.add_array(a + ".attention.head_count_kv", [NKV if k == "A" else 0 for k in KINDS], g.INT32)
    w.add_f32(a + ".rope.freq_base", 1e6)
    w.add_f32(a + ".attention.layer_norm_rms_epsilon", 1e-5)
    w.add_u32(a + ".vocab_size", V)
    w.add_u32(a + ".shortconv.l_cache", 3)
    tokens, types, merges = fixture_vocab()
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.add_string("tokenizer.ggml.pre", "lfm2")
    w.add_array("tokenizer.ggml.tokens", tokens, g.STRING)
    w.add_array("tokenizer.ggml.token_type", types, g.INT32)
    w.add_array("tokenizer.ggml.merges", merges, g.STRING)
    w.add_u32("tokenizer.ggml.bos_token_id", 1)
    w.add_u32("tokenizer.ggml.eos_token_id", 7)
    w.add_u32("tokenizer.ggml.padding_token_id", 0)
    w.add_bool("tokenizer.ggml.add_bos_token", True)
    w.add_bool("tokenizer.ggml.add_eos_token", False)
    w.add_tensor("token_embd.weight", 0.5 * rng.standard_normal((V, D)).astype(np.float32))
    w.add_tensor("token_embd_norm.weight", norm(D))
    for i, k in enumerate(KINDS):
        p = "blk.%d." % i
        w.add_tensor(p + "attn_norm.weight", norm(D))
        if k == "C":
            w.add_tensor(p + "shortconv.in_proj.weight", lin(3 * D, D))
            w.add_tensor(p + "shortconv.conv.weight",
                         (0.5 * rng.standard_normal((D, 3))).astype(np.float32))
            w.add_tensor(p + "shortconv.out_proj.weight", lin(D, D))
        else:
            w.add_tensor(p + "attn_q.weight", lin(NH * 64, D))
            w.add_tensor(p + "attn_k.weight", lin(NKV * 64, D))
            w.add_tensor(p + "attn_v.weight", lin(NKV * 64, D))
            w.add_tensor(p + "attn_output.weight", lin(D, NH * 64))
            w.add_tensor(p + "attn_q_norm.weight", norm(64))
            w.add_tensor(p + "attn_k_norm.weight", norm(64))
        w.add_tensor(p + "ffn_norm.weight", norm(D))
        w.add_tensor(p + "ffn_gate.weight", lin(FF, D))
        w.add_tensor(p + "ffn_up.weight", lin(FF, D))
        w.add_tensor(p + "ffn_down.weight", lin(D, FF))
    w.write(lm_path)

    m = g.GGUFWriter()
    m.add_string("general.architecture", "clip")
    m.add_string("general.type", "mmproj")
    m.add_string("clip.projector_type", "lfm2")
    m.add_bool("clip.has_vision_encoder", True)
    m.add_bool("clip.use_gelu", True)
    m.add_u32("clip.vision.projection_dim", D)
    m.add_u32("clip.vision.image_size", 256)
    m.add_u32("clip.vision.patch_size", 16)
    m.add_u32("clip.vision.embedding_length", DV)
    m.add_u32("clip.vision.feed_forward_length", FV)
    m.add_u32("clip.vision.block_count", NVL)
    m.add_u32("clip.vision.attention.head_count", NVH)
    m.add_f32("clip.vision.attention.layer_norm_epsilon", 1e-6)
    m.add_array("clip.vision.image_mean", [0.5] * 3, g.FLOAT32)
    m.add_array("clip.vision.image_std", [0.5] * 3, g.FLOAT32)
    m.add_u32("clip.vision.projector.scale_factor", 2)
    m.add_tensor("v.patch_embd.weight", lin(DV, 768).reshape(DV, 3, 16, 16))
    m.add_tensor("v.patch_embd.bias", 0.1 * rng.standard_normal(DV).astype(np.float32))
    m.add_tensor("v.position_embd.weight", (0.5 * rng.standard_normal((256, DV))).astype(np.float32))
    for i in range(NVL + 1):   # one extra layer beyond block_count: must be ignored
        p = "v.blk.%d." % i
        for n, (o, ii) in (("attn_q", (DV, DV)), ("attn_k", (DV, DV)), ("attn_v", (DV, DV)),
                           ("attn_out", (DV, DV)), ("ffn_up", (FV, DV)), ("ffn_down", (DV, FV))):
            m.add_tensor(p + n + ".weight", lin(o, ii))
            m.add_tensor(p + n + ".bias", 0.1 * rng.standard_normal(o).astype(np.float32))
        for n in ("ln1", "ln2"):
            m.add_tensor(p + n + ".weight", norm(DV))
            m.add_tensor(p + n + ".bias", 0.1 * rng.standard_normal(DV).astype(np.float32))
    m.add_tensor("v.post_ln.weight", norm(DV))
    m.add_tensor("v.post_ln.bias", 0.1 * rng.standard_normal(DV).astype(np.float32))
    m.add_tensor("mm.input_norm.weight", norm(4 * DV))
    m.add_tensor("mm.input_norm.bias", 0.1 * rng.standard_normal(4 * DV).astype(np.float32))
    m.add_tensor("mm.1.weight", lin(P, 4 * DV))
    m.add_tensor("mm.1.bias", 0.1 * rng.standard_normal(P).astype(np.float32))
    m.add_tensor("mm.2.weight", lin(D, P))
    m.add_tensor("mm.2.bias", 0.1 * rng.standard_normal(D).astype(np.float32))
    m.write(mm_path)


def expected_hf_shapes():
    """HF parameter shapes of Lfm2VlForConditionalGeneration for the tiny preset,
    written out from the module definitions (transformers 5.17)."""
    L, Vp, MP = oracle.LM_PREFIX, oracle.V_PREFIX, oracle.MM_PREFIX
    s = {L + "embed_tokens.weight": (V, D), L + "embedding_norm.weight": (D,),
         "lm_head.weight": (V, D)}
    for i, k in enumerate(KINDS):
        p = "%slayers.%d." % (L, i)
        s[p + "operator_norm.weight"] = (D,)
        s[p + "ffn_norm.weight"] = (D,)
        s[p + "feed_forward.w1.weight"] = (FF, D)
        s[p + "feed_forward.w3.weight"] = (FF, D)
        s[p + "feed_forward.w2.weight"] = (D, FF)
        if k == "C":
            s[p + "conv.in_proj.weight"] = (3 * D, D)
            s[p + "conv.conv.weight"] = (D, 1, 3)
            s[p + "conv.out_proj.weight"] = (D, D)
        else:
            s[p + "self_attn.q_proj.weight"] = (NH * 64, D)
            s[p + "self_attn.k_proj.weight"] = (NKV * 64, D)
            s[p + "self_attn.v_proj.weight"] = (NKV * 64, D)
            s[p + "self_attn.out_proj.weight"] = (D, NH * 64)
            s[p + "self_attn.q_layernorm.weight"] = (64,)
            s[p + "self_attn.k_layernorm.weight"] = (64,)
    s[Vp + "embeddings.patch_embedding.weight"] = (DV, 768)
    s[Vp + "embeddings.patch_embedding.bias"] = (DV,)
    s[Vp + "embeddings.position_embedding.weight"] = (256, DV)
    for i in range(NVL):
        p = "%sencoder.layers.%d." % (Vp, i)
        for n, o, ii in (("self_attn.q_proj", DV, DV), ("self_attn.k_proj", DV, DV),
                         ("self_attn.v_proj", DV, DV), ("self_attn.out_proj", DV, DV),
                         ("mlp.fc1", FV, DV), ("mlp.fc2", DV, FV)):
            s[p + n + ".weight"] = (o, ii)
            s[p + n + ".bias"] = (o,)
        for n in ("layer_norm1", "layer_norm2"):
            s[p + n + ".weight"] = (DV,)
            s[p + n + ".bias"] = (DV,)
    s[Vp + "post_layernorm.weight"] = (DV,)
    s[Vp + "post_layernorm.bias"] = (DV,)
    s[MP + "layer_norm.weight"] = (4 * DV,)
    s[MP + "layer_norm.bias"] = (4 * DV,)
    s[MP + "linear_1.weight"] = (P, 4 * DV)
    s[MP + "linear_1.bias"] = (P,)
    s[MP + "linear_2.weight"] = (D, P)
    s[MP + "linear_2.bias"] = (D,)
    return s


def main():
    with tempfile.TemporaryDirectory() as tmp:
        lp, mp = os.path.join(tmp, "lm.gguf"), os.path.join(tmp, "mm.gguf")
        write_fixture(lp, mp)
        lm, mm = g.GGUFReader(lp), g.GGUFReader(mp)
        text, vision, top = oracle.build_config_dicts(lm, mm)
        check(text["layer_types"] == ["conv", "conv", "full_attention"] * 2, "layer types")
        check(text["full_attn_idxs"] == [2, 5], "attention indices")
        check(text["num_key_value_heads"] == NKV and text["num_attention_heads"] == NH, "heads")
        check(text["intermediate_size"] == FF and not text["block_auto_adjust_ff_dim"], "ff as stored")
        check(text["rope_parameters"]["rope_theta"] == 1e6, "rope theta")
        check(text["eos_token_id"] == 7 and text["vocab_size"] == V, "eos/vocab")
        check(vision["num_patches"] == 256 and vision["num_hidden_layers"] == NVL, "vision grid/layers")
        check(vision["hidden_act"] == "gelu_pytorch_tanh", "vision act")
        check(top["projector_hidden_size"] == P and top["projector_use_layernorm"], "projector")
        check(top["downsample_factor"] == 2 and top["image_token_id"] == 396, "factor/image id")

        sd = oracle.build_state_dict(lm, mm, NVL)
        exp = expected_hf_shapes()
        check(set(sd) == set(exp), "parameter names: missing %s extra %s"
              % (sorted(set(exp) - set(sd))[:5], sorted(set(sd) - set(exp))[:5]))
        for k in exp:
            if k in sd:
                check(tuple(sd[k].shape) == exp[k], "%s shape %s != %s" % (k, sd[k].shape, exp[k]))
        # conv: GGUF element (k, ch) at offset ch*3 + k == PyTorch conv.weight[ch][0][k]
        raw = lm.by_name["blk.0.shortconv.conv.weight"].raw.view("<f4")
        cw = sd[oracle.LM_PREFIX + "layers.0.conv.conv.weight"]
        check(all(cw[ch][0][k] == raw[ch * 3 + k] for ch in (0, 7, 255) for k in range(3)),
              "conv weight element order")
        # patch embedding: GGUF [kx, ky, c, o] at ((o*3 + c)*16 + ky)*16 + kx equals
        # W_lin[o][(ky*16 + kx)*3 + c] (spec §1.8)
        raw = mm.by_name["v.patch_embd.weight"].raw.view("<f4")
        wl = sd[oracle.V_PREFIX + "embeddings.patch_embedding.weight"]
        ok = True
        for o, c, ky, kx in ((0, 0, 0, 0), (5, 2, 3, 11), (127, 1, 15, 0), (64, 2, 15, 15)):
            ok &= wl[o][(ky * 16 + kx) * 3 + c] == raw[((o * 3 + c) * 16 + ky) * 16 + kx]
        check(ok, "patch embedding permutation")
        # linear: GGUF [in, out] row r is contiguous -> HF weight[r]
        raw = lm.by_name["blk.2.attn_k.weight"].raw.view("<f4")
        check(np.array_equal(sd[oracle.LM_PREFIX + "layers.2.self_attn.k_proj.weight"][3],
                             raw[3 * D:4 * D]), "linear row layout")
        check(sd["lm_head.weight"] is sd[oracle.LM_PREFIX + "embed_tokens.weight"], "tied head")
        check(oracle.hf_name_mm("v.blk.2.attn_q.weight", NVL) is None, "extra vision layer ignored")

        toks, types, merges = oracle.tokenizer_spec(lm)
        check(toks[396] == "<image>" and types[396] == 3, "image token")
        check(all(" " not in a for a, b in merges), "merge split")
        s = oracle.render_prompt("Describe this image.", 3)
        check(s == "<|startoftext|><|im_start|>user\n<|image_start|><image><image><image>"
              "<|image_end|>Describe this image.<|im_end|>\n<|im_start|>assistant\n",
              "prompt layout §5.1/§5.2")
        check(oracle.parse_image("640x480:2") == (640, 480, 2), "image spec")

    if failures:
        print("%d failure(s)" % failures)
        sys.exit(1)
    print("oracle (no torch): all checks passed")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--write-fixture":
        os.makedirs(sys.argv[2], exist_ok=True)
        write_fixture(os.path.join(sys.argv[2], "fixture-lm.gguf"),
                      os.path.join(sys.argv[2], "fixture-mmproj.gguf"))
    else:
        main()
