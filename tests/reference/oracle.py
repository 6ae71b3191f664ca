#!/usr/bin/env python3
"""Golden outputs from transformers for an LFM2-VL GGUF pair (the oracle).

Loads an LM GGUF + mmproj GGUF in the official llama.cpp layout (spec §1.5-1.8),
builds the matching Lfm2VlConfig, loads the dequantized weights into
transformers' Lfm2VlForConditionalGeneration in float32 (the inverse of the
converter's renames / reshapes), preprocesses procedural test images with the
HF image processor, tokenizes the prompt with a `tokenizers` BPE built from the
GGUF vocabulary, and writes a golden GGUF (tests/data/goldens, contract in
tests/reference/README.md): vision tower output (post-LN), projector output,
logits at every prompt position, 24-token greedy continuation.

Needs torch, transformers 5, tokenizers, pillow (the device). The parts that
need only numpy (config dicts, weight-name mapping, tokenizer vocabulary
checks) are importable without torch and tested by test_oracle_local.py.

Usage (from the repository root):
  oracle.py --lm LM.gguf --mmproj MM.gguf --lm-args "..." --mmproj-args "..."
            --image 512x288:1 [--image 256x384:3] --out GOLDEN.gguf
"""

import argparse
import hashlib
import json
import os
import shlex
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_io  # noqa: E402
import images  # noqa: E402

IMAGE_TOKEN_ID = 396
N_GREEDY = 24
DEFAULT_PROMPT = "Describe this image."
MIN_IMAGE_TOKENS, MAX_IMAGE_TOKENS = 64, 256
# Llama-3 pre-tokenizer pattern (spec §6.3)
LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|"
                r"\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
TOKEN_NORMAL, TOKEN_CONTROL, TOKEN_USER_DEFINED = 1, 3, 4


# ------------------------------------------------------------ config (numpy)

def _req(r, key):
    if key not in r.kv:
        raise KeyError("%s: missing key %s" % (r.path, key))
    return r.kv[key]


def _f32_decimal(x):
    """The shortest decimal of a stored f32 (1e-5, not 9.99999975e-06), as HF
    configs write it."""
    return float(str(np.float32(x)))


def build_config_dicts(lm, mm):
    """Plain dicts for Lfm2VlConfig(text_config=..., vision_config=..., **top)."""
    a = _req(lm, "general.architecture")
    if a != "lfm2":
        raise ValueError("LM architecture %r, want lfm2" % a)
    if _req(mm, "general.architecture") != "clip" or \
            _req(mm, "clip.projector_type") != "lfm2":
        raise ValueError("mmproj is not a clip/lfm2 projector file")
    n_layer = int(_req(lm, a + ".block_count"))
    kv_heads = [int(x) for x in np.asarray(_req(lm, a + ".attention.head_count_kv")).reshape(-1)]
    if len(kv_heads) == 1:
        kv_heads = kv_heads * n_layer
    if len(kv_heads) != n_layer:
        raise ValueError("head_count_kv has %d entries for %d layers" % (len(kv_heads), n_layer))
    attn = [i for i, k in enumerate(kv_heads) if k > 0]
    if not attn or len({kv_heads[i] for i in attn}) != 1:
        raise ValueError("need one non-zero kv head count, got %s" % kv_heads)
    tokens = _req(lm, "tokenizer.ggml.tokens")
    vocab = int(lm.kv.get(a + ".vocab_size", len(tokens)))
    text = {
        "model_type": "lfm2",
        "vocab_size": vocab,
        "hidden_size": int(_req(lm, a + ".embedding_length")),
        # the GGUF holds the final (already adjusted) FFN size
        "intermediate_size": int(_req(lm, a + ".feed_forward_length")),
        "block_auto_adjust_ff_dim": False,
        "num_hidden_layers": n_layer,
        "num_attention_heads": int(_req(lm, a + ".attention.head_count")),
        "num_key_value_heads": kv_heads[attn[0]],
        "layer_types": ["full_attention" if k > 0 else "conv" for k in kv_heads],
        "full_attn_idxs": attn,
        "norm_eps": _f32_decimal(_req(lm, a + ".attention.layer_norm_rms_epsilon")),
        "rope_parameters": {"rope_type": "default",
                            "rope_theta": float(_req(lm, a + ".rope.freq_base"))},
        "conv_L_cache": int(_req(lm, a + ".shortconv.l_cache")),
        "conv_bias": False,
        "max_position_embeddings": int(lm.kv.get(a + ".context_length", 128000)),
        "bos_token_id": int(lm.kv.get("tokenizer.ggml.bos_token_id", 1)),
        "eos_token_id": int(lm.kv.get("tokenizer.ggml.eos_token_id", 7)),
        "pad_token_id": int(lm.kv.get("tokenizer.ggml.padding_token_id", 0)),
        "tie_word_embeddings": True,
    }
    if a + ".attention.key_length" in lm.kv:
        text["head_dim"] = int(lm.kv[a + ".attention.key_length"])
    pos = mm.by_name["v.position_embd.weight"]
    n_vlayer = int(_req(mm, "clip.vision.block_count"))
    vision = {
        "model_type": "siglip2_vision_model",
        "hidden_size": int(_req(mm, "clip.vision.embedding_length")),
        "intermediate_size": int(_req(mm, "clip.vision.feed_forward_length")),
        "num_hidden_layers": n_vlayer,
        "num_attention_heads": int(_req(mm, "clip.vision.attention.head_count")),
        "num_channels": 3,
        "patch_size": int(_req(mm, "clip.vision.patch_size")),
        "layer_norm_eps": _f32_decimal(_req(mm, "clip.vision.attention.layer_norm_epsilon")),
        "num_patches": int(pos.ne[1]),
        "hidden_act": "gelu_pytorch_tanh" if mm.kv.get("clip.use_gelu", True) else "quick_gelu",
        "vision_use_head": False,
    }
    top = {
        "downsample_factor": int(_req(mm, "clip.vision.projector.scale_factor")),
        "projector_hidden_size": int(mm.by_name["mm.1.weight"].ne[1]),
        "projector_use_layernorm": "mm.input_norm.weight" in mm.by_name,
        "projector_bias": True,
        "projector_hidden_act": "gelu",
        "image_token_id": IMAGE_TOKEN_ID,
        # block_count layers are run = all layers of the vision config
        "vision_feature_layer": -1,
        "tie_word_embeddings": True,
    }
    return text, vision, top


# ----------------------------------------------------- weight mapping (numpy)

_LM_LAYER = {
    "attn_norm.weight": "operator_norm.weight",
    "ffn_norm.weight": "ffn_norm.weight",
    "ffn_gate.weight": "feed_forward.w1.weight",
    "ffn_up.weight": "feed_forward.w3.weight",
    "ffn_down.weight": "feed_forward.w2.weight",
    "shortconv.in_proj.weight": "conv.in_proj.weight",
    "shortconv.conv.weight": "conv.conv.weight",
    "shortconv.out_proj.weight": "conv.out_proj.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.out_proj.weight",
    "attn_q_norm.weight": "self_attn.q_layernorm.weight",
    "attn_k_norm.weight": "self_attn.k_layernorm.weight",
}
_V_LAYER = {
    "ln1": "layer_norm1", "ln2": "layer_norm2",
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj", "attn_out": "self_attn.out_proj",
    "ffn_up": "mlp.fc1", "ffn_down": "mlp.fc2",
}
_MM = {"mm.input_norm": "layer_norm", "mm.1": "linear_1", "mm.2": "linear_2"}
LM_PREFIX = "model.language_model."
V_PREFIX = "model.vision_tower.vision_model."
MM_PREFIX = "model.multi_modal_projector."


def hf_name_lm(name):
    if name == "token_embd.weight":
        return LM_PREFIX + "embed_tokens.weight"
    if name == "token_embd_norm.weight":   # the FINAL norm (spec §1.6)
        return LM_PREFIX + "embedding_norm.weight"
    if name.startswith("blk."):
        _, i, rest = name.split(".", 2)
        if rest in _LM_LAYER:
            return "%slayers.%d.%s" % (LM_PREFIX, int(i), _LM_LAYER[rest])
    raise KeyError("unmapped LM tensor " + name)


def hf_name_mm(name, n_vlayer):
    """None for extra v.blk.* beyond block_count (spec §1.7: ignored)."""
    if name in ("v.patch_embd.weight", "v.patch_embd.bias"):
        return V_PREFIX + "embeddings.patch_embedding." + name.rsplit(".", 1)[1]
    if name == "v.position_embd.weight":
        return V_PREFIX + "embeddings.position_embedding.weight"
    if name.startswith("v.post_ln."):
        return V_PREFIX + "post_layernorm." + name.rsplit(".", 1)[1]
    if name.startswith("v.blk."):
        _, _, i, mod, wb = name.split(".")
        if int(i) >= n_vlayer:
            return None
        return "%sencoder.layers.%d.%s.%s" % (V_PREFIX, int(i), _V_LAYER[mod], wb)
    mod, wb = name.rsplit(".", 1)
    if mod in _MM:
        return MM_PREFIX + _MM[mod] + "." + wb
    raise KeyError("unmapped mmproj tensor " + name)


def patch_embd_to_linear(k):
    """GGUF conv kernel, numpy (D, 3, 16, 16) = [o][c][ky][kx] -> HF Linear
    (D, 768) with input index (ky*16 + kx)*3 + c (spec §1.8)."""
    d = k.shape[0]
    return np.ascontiguousarray(k.transpose(0, 2, 3, 1).reshape(d, -1))


def build_state_dict(lm, mm, n_vlayer):
    """HF parameter name -> float32 numpy array, dequantized, HF shapes."""
    sd = {}
    for t in lm.tensors:
        w = lm.tensor_f32(t.name)
        if t.name.endswith("shortconv.conv.weight"):
            w = w.reshape(w.shape[0], 1, w.shape[1])   # (d, L) -> Conv1d (d, 1, L)
        sd[hf_name_lm(t.name)] = w
    sd["lm_head.weight"] = sd[LM_PREFIX + "embed_tokens.weight"]   # tied
    for t in mm.tensors:
        n = hf_name_mm(t.name, n_vlayer)
        if n is None:
            continue
        w = mm.tensor_f32(t.name)
        if t.name == "v.patch_embd.weight":
            w = patch_embd_to_linear(w)
        sd[n] = w
    return sd


# ------------------------------------------------------- prompt / tokenizer

def render_prompt(prompt, n_slots):
    """Spec §5.1 single-image layout, §5.2 single-crop expansion."""
    image = "<|image_start|>" + "<image>" * n_slots + "<|image_end|>"
    return ("<|startoftext|><|im_start|>user\n" + image + prompt +
            "<|im_end|>\n<|im_start|>assistant\n")


def tokenizer_spec(lm):
    """(tokens, types, merges as (a, b) pairs) from the LM GGUF."""
    tokens = list(_req(lm, "tokenizer.ggml.tokens"))
    types = [int(x) for x in _req(lm, "tokenizer.ggml.token_type")]
    if len(types) != len(tokens):
        raise ValueError("token_type length differs from tokens")
    merges = []
    for m in _req(lm, "tokenizer.ggml.merges"):
        sp = m.index(" ", 1)   # split at the first space after position 0
        merges.append((m[:sp], m[sp + 1:]))
    if _req(lm, "tokenizer.ggml.model") != "gpt2":
        raise ValueError("tokenizer model is not gpt2 (byte-level BPE)")
    return tokens, types, merges


def build_tokenizer(lm):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
    tokens, types, merges = tokenizer_spec(lm)
    vocab = {t: i for i, t in enumerate(tokens)}
    if len(vocab) != len(tokens):
        raise ValueError("duplicate token texts in the vocabulary")
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, ty in zip(tokens, types) if ty == TOKEN_CONTROL])
    tok.add_tokens([AddedToken(t, special=False, normalized=False)
                    for t, ty in zip(tokens, types) if ty == TOKEN_USER_DEFINED])
    for t, ty in zip(tokens, types):
        if ty in (TOKEN_CONTROL, TOKEN_USER_DEFINED) and tok.token_to_id(t) != vocab[t]:
            raise ValueError("added token %r got id %s" % (t, tok.token_to_id(t)))
    return tok


def template_check(lm, prompt):
    """Render the GGUF chat template (jinja2) for one image + text and compare
    with render_prompt's layout before image expansion. (ok, rendered) or
    (None, reason) when it cannot be rendered."""
    tpl = lm.kv.get("tokenizer.chat_template")
    if tpl is None:
        return None, "no tokenizer.chat_template"
    try:
        import jinja2
    except ImportError:
        return None, "jinja2 missing"
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
    out = jinja2.Environment().from_string(tpl).render(
        messages=msgs, add_generation_prompt=True, bos_token="<|startoftext|>")
    want = render_prompt(prompt, 0).replace("<|image_start|><|image_end|>", "<image>")
    return out == want, out


def encode_prompt(tok, prompt, n_slots):
    ids = tok.encode(render_prompt(prompt, n_slots), add_special_tokens=False).ids
    if ids[0] != 1 or ids.count(IMAGE_TOKEN_ID) != n_slots:
        raise ValueError("prompt encoding lacks BOS or image slots: %s" % ids[:8])
    return ids


# -------------------------------------------------------------- torch part

def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def parse_image(s):
    wh, seed = s.split(":")
    w, h = wh.split("x")
    return int(w), int(h), int(seed)


class Oracle:
    def __init__(self, lm_path, mm_path, device="cpu"):
        import torch
        import transformers
        self.torch = torch
        self.tf = transformers
        self.device = torch.device(device)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        self.lm = gguf_io.GGUFReader(lm_path)
        self.mm = gguf_io.GGUFReader(mm_path)
        text, vision, top = build_config_dicts(self.lm, self.mm)
        self.config = self._make_config(text, vision, top)
        sd = build_state_dict(self.lm, self.mm, vision["num_hidden_layers"])
        self.model = self._make_model(sd)
        self.tok = build_tokenizer(self.lm)
        mean = [float(x) for x in self.mm.kv.get("clip.vision.image_mean", [0.5] * 3)]
        std = [float(x) for x in self.mm.kv.get("clip.vision.image_std", [0.5] * 3)]
        self.image_processor = transformers.Lfm2VlImageProcessor(
            image_mean=mean, image_std=std, do_image_splitting=True,
            min_image_tokens=MIN_IMAGE_TOKENS, max_image_tokens=MAX_IMAGE_TOKENS,
            downsample_factor=top["downsample_factor"],
            encoder_patch_size=vision["patch_size"])
        self.hf_processor = self._make_processor()

    def _make_config(self, text, vision, top):
        tf = self.tf
        try:
            cfg = tf.Lfm2VlConfig(text_config=dict(text), vision_config=dict(vision), **top)
        except TypeError as e:   # a strict config refusing an extra field
            print("note: Lfm2VlConfig refused an extra field (%s); retrying without "
                  "vision_feature_layer" % e)
            top = {k: v for k, v in top.items() if k != "vision_feature_layer"}
            cfg = tf.Lfm2VlConfig(text_config=dict(text), vision_config=dict(vision), **top)
        tc = cfg.text_config
        assert tc.layer_types == text["layer_types"], tc.layer_types
        assert not tc.block_auto_adjust_ff_dim
        assert getattr(cfg.vision_config, "vision_use_head", True) is False
        return cfg

    def _make_model(self, sd):
        torch = self.torch
        torch.manual_seed(0)
        model = self.tf.Lfm2VlForConditionalGeneration(self.config)
        model.to(torch.float32)
        own = model.state_dict()
        tsd = {}
        for k, v in sd.items():
            # transformers 5 keeps SigLIP2's modules directly under vision_tower
            # (checkpoints' "vision_model." level is renamed away on load)
            if k not in own and k.startswith(V_PREFIX):
                k = "model.vision_tower." + k[len(V_PREFIX):]
            if k == "lm_head.weight" and k not in own:
                continue          # tied: not a separate entry
            tsd[k] = torch.from_numpy(np.ascontiguousarray(v))
        for k, v in tsd.items():
            if k not in own:
                raise KeyError("no parameter %s in the HF model" % k)
            if tuple(own[k].shape) != tuple(v.shape):
                raise ValueError("%s: HF shape %s, GGUF gives %s"
                                 % (k, tuple(own[k].shape), tuple(v.shape)))
        missing, unexpected = model.load_state_dict(tsd, strict=False)
        params = {k for k, _ in model.named_parameters(remove_duplicate=False)}
        missing = [k for k in missing if k != "lm_head.weight" and k in params]
        if missing or unexpected:
            raise ValueError("missing %s unexpected %s" % (missing, unexpected))
        emb = model.model.language_model.embed_tokens.weight
        if model.lm_head.weight.data_ptr() != emb.data_ptr():
            model.lm_head.weight = emb       # tie explicitly
        assert torch.equal(model.lm_head.weight, emb)
        model.eval()
        return model.to(self.device)

    def _make_processor(self):
        """HF Lfm2VlProcessor around our tokenizer; None if it cannot be built."""
        try:
            hf_tok = self.tf.PreTrainedTokenizerFast(
                tokenizer_object=self.tok, bos_token="<|startoftext|>",
                eos_token="<|im_end|>", pad_token="<|pad|>", padding_side="left")
            return self.tf.Lfm2VlProcessor(image_processor=self.image_processor,
                                           tokenizer=hf_tok)
        except Exception as e:  # noqa: BLE001 - report and use our own path
            print("note: Lfm2VlProcessor not usable with the GGUF tokenizer (%r); "
                  "using the spec §5 layout only" % (e,))
            return None

    # ---- preprocessing

    def prepare_image(self, w, h, seed):
        """(PIL image fed to the processor, crop_w, crop_h, tv_vs_pil note)."""
        from PIL import Image
        if images.is_too_large(h, w):
            raise ValueError("%dx%d would be tiled; goldens cover single crops" % (w, h))
        src = images.test_image(w, h, seed)
        cw, ch = images.smart_resize(h, w, MIN_IMAGE_TOKENS, MAX_IMAGE_TOKENS)
        pil = Image.fromarray(src)   # (H, W, 3) uint8 -> RGB
        note = None
        if (cw, ch) != (w, h):
            # PIL BILINEAR (antialiased, spec §4.5) to the smart size, then feed the
            # processor a fixed point: see docs/parity.md (D1).
            resized = pil.resize((cw, ch), Image.BILINEAR)
            note = self._tv_vs_pil(pil, resized)
            pil = resized
        return pil, cw, ch, note

    def _tv_vs_pil(self, src, resized):
        """How far the processor's own (torchvision) resize is from PIL's."""
        a = self.image_processor(images=[src], return_tensors="pt")["pixel_values"]
        b = self.image_processor(images=[resized], return_tensors="pt")["pixel_values"]
        d = (a - b).abs()
        lsb = 2.0 / 255.0
        return {"elements": int(d.numel()), "differ": int((d > 1e-6).sum()),
                "max_lsb": float(d.max() / lsb)}

    def inputs(self, imgs, prompt):
        """Processor output for a batch of single-image prompts + our ids."""
        torch = self.torch
        pv = self.image_processor(images=[[im] for im in imgs], return_tensors="pt",
                                  do_image_splitting=True, min_image_tokens=MIN_IMAGE_TOKENS,
                                  max_image_tokens=MAX_IMAGE_TOKENS)
        shapes = pv["spatial_shapes"].tolist()
        f = self.config.downsample_factor
        ids = [encode_prompt(self.tok, prompt, (gh // f) * (gw // f)) for gh, gw in shapes]
        hf = None
        if self.hf_processor is not None:
            try:
                hf = self.hf_processor(
                    images=[[im] for im in imgs],
                    text=[render_prompt(prompt, 0).replace(
                        "<|image_start|><|image_end|>", "<image>")] * len(imgs),
                    return_tensors="pt", padding=True,
                    do_image_splitting=True, min_image_tokens=MIN_IMAGE_TOKENS,
                    max_image_tokens=MAX_IMAGE_TOKENS)
            except Exception as e:  # noqa: BLE001
                print("note: Lfm2VlProcessor call failed (%r); spec §5 layout only" % (e,))
        if hf is not None:
            print("HF Lfm2VlProcessor input_ids checked against the spec §5 layout")
            for b, seq in enumerate(ids):
                m = hf["attention_mask"][b].bool()
                got = hf["input_ids"][b][m].tolist()
                if got != seq:
                    raise ValueError("HF processor ids differ from spec §5 layout:\n%s\n%s"
                                     % (got, seq))
            assert torch.equal(hf["pixel_values"], pv["pixel_values"])
        T = max(len(s) for s in ids)
        input_ids = torch.zeros((len(ids), T), dtype=torch.long)
        mask = torch.zeros((len(ids), T), dtype=torch.long)
        for b, s in enumerate(ids):   # left padding with pad id 0, as HF generate wants
            input_ids[b, T - len(s):] = torch.tensor(s)
            mask[b, T - len(s):] = 1
        pos = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
        dev = self.device
        return {
            "input_ids": input_ids.to(dev), "attention_mask": mask.to(dev),
            "position_ids": pos.to(dev),
            "pixel_values": pv["pixel_values"].to(dev),
            "pixel_attention_mask": pv["pixel_attention_mask"].to(dev),
            "spatial_shapes": pv["spatial_shapes"].to(dev),
        }, ids, shapes

    # ---- model runs

    def forward(self, inp, dtype):
        torch = self.torch
        m = self.model.to(dtype)
        x = dict(inp)
        x["pixel_values"] = x["pixel_values"].to(dtype)
        with torch.no_grad():
            feats = m.model.get_image_features(
                pixel_values=x["pixel_values"], spatial_shapes=x["spatial_shapes"],
                pixel_attention_mask=x["pixel_attention_mask"], return_dict=True)
            out = m(**x, use_cache=False)
        n_patch = x["pixel_attention_mask"].sum(dim=1).tolist()
        res = []
        for b in range(x["input_ids"].shape[0]):
            keep = x["attention_mask"][b].bool()
            res.append({
                "vision": feats.last_hidden_state[b, :n_patch[b]].double().cpu().numpy(),
                "projector": feats.pooler_output[b].double().cpu().numpy(),
                "logits": out.logits[b][keep].double().cpu().numpy(),
            })
        # the projector rows the LM consumed are the ones recorded
        cat = torch.cat([torch.from_numpy(r["projector"]) for r in res])
        d = (cat - out.image_hidden_states.cpu().double()).abs().max().item()
        if d > 1e-5:
            print("WARNING: projector rows differ from those the LM consumed by %g" % d)
        self.model.to(torch.float32)
        return res

    def greedy(self, inp):
        torch = self.torch
        # No stop token: always N_GREEDY steps, so the whole stream compares
        # (the C side also runs N_GREEDY steps without stopping).
        self.model.generation_config.eos_token_id = None
        gc = self.tf.GenerationConfig(
            max_new_tokens=N_GREEDY, do_sample=False, repetition_penalty=1.0,
            num_beams=1, eos_token_id=None, pad_token_id=0, bos_token_id=1)
        x = {k: v for k, v in inp.items() if k != "position_ids"}
        with torch.no_grad():
            out = self.model.generate(**x, generation_config=gc)
        return out[:, inp["input_ids"].shape[1]:].cpu().tolist()

    def greedy_nocache(self, inp):
        """Greedy by full recomputation (no cache): checks the hybrid-cache path."""
        torch = self.torch
        x = dict(inp)
        gen = []
        with torch.no_grad():
            for _ in range(N_GREEDY):
                logits = self.model(**x, use_cache=False).logits[:, -1]
                nxt = logits.argmax(-1, keepdim=True)
                gen.append(nxt)
                x["input_ids"] = torch.cat([x["input_ids"], nxt], 1)
                x["attention_mask"] = torch.cat([x["attention_mask"], torch.ones_like(nxt)], 1)
                x["position_ids"] = torch.cat([x["position_ids"], x["position_ids"][:, -1:] + 1], 1)
        return torch.cat(gen, 1).cpu().tolist()


def maxdiff(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def run_case(o, specs, prompt):
    """specs: list of (w, h, seed). Returns (per-seq records, summary)."""
    imgs, meta = [], []
    for (w, h, s) in specs:
        pil, cw, ch, note = o.prepare_image(w, h, s)
        imgs.append(pil)
        meta.append({"image_width": w, "image_height": h, "image_seed": s,
                     "crop_width": cw, "crop_height": ch, "tv_vs_pil": note})
    ok, rendered = template_check(o.lm, prompt)
    print("GGUF chat template renders the spec §5.1 text: %s%s"
          % (ok, "" if ok else " (%r)" % (rendered,)))
    inp, ids, shapes = o.inputs(imgs, prompt)
    for m, (gh, gw) in zip(meta, shapes):
        ps = o.config.vision_config.patch_size
        assert (gw * ps, gh * ps) == (m["crop_width"], m["crop_height"]), (shapes, m)
    r32 = o.forward(inp, o.torch.float32)
    r64 = o.forward(inp, o.torch.float64)
    greedy = o.greedy(inp)
    greedy_nc = o.greedy_nocache(inp)
    for b, g in enumerate(greedy):
        if len(g) != N_GREEDY:   # generate stopped: keep the definitional stream
            print("WARNING: generate gave %d tokens for seq %d; using the no-cache "
                  "argmax stream" % (len(g), b))
            greedy[b] = greedy_nc[b]
    summary = {"seqs": []}
    for b in range(len(specs)):
        seq = dict(meta[b])
        seq["input_ids"] = ids[b]
        seq["greedy"] = greedy[b]
        for k in ("vision", "projector", "logits"):
            seq[k] = r32[b][k].astype(np.float32)
        summary["seqs"].append({
            **{k: meta[b][k] for k in meta[b]},
            "n_tokens": len(ids[b]), "n_slots": ids[b].count(IMAGE_TOKEN_ID),
            "f32_vs_f64_max_abs": {k: maxdiff(r32[b][k], r64[b][k])
                                   for k in ("vision", "projector", "logits")},
            "logits_max_abs": float(np.max(np.abs(r64[b]["logits"]))),
            "greedy": greedy[b], "greedy_nocache_equal": greedy_nc[b] == greedy[b],
            "greedy_has_eos": 7 in greedy[b],
        })
        meta[b] = seq
        if greedy_nc[b] != greedy[b]:
            print("WARNING: seq %d greedy with cache %s != without %s"
                  % (b, greedy[b], greedy_nc[b]))
    if len(specs) > 1:   # batch vs single runs
        checks = []
        for b, spec in enumerate(specs):
            single, _ = run_case_single(o, spec, prompt)
            d = {k: maxdiff(single[k], meta[b][k]) for k in ("vision", "projector", "logits")}
            same_ids = single["input_ids"] == meta[b]["input_ids"]
            same_greedy = single["greedy"] == meta[b]["greedy"]
            checks.append({"seq": b, "max_abs_vs_single": d, "ids_equal": same_ids,
                           "greedy_equal": same_greedy})
            ok = same_ids and same_greedy and max(d.values()) < 1e-3
            print("batch check seq %d: %s %s" % (b, "OK" if ok else "FAILED", json.dumps(checks[-1])))
            if not ok:
                raise SystemExit("batched outputs differ from single runs beyond float noise")
        summary["batch_vs_single"] = checks
    return meta, summary


def run_case_single(o, spec, prompt):
    pil, cw, ch, _ = o.prepare_image(*spec)
    inp, ids, _ = o.inputs([pil], prompt)
    r = o.forward(inp, o.torch.float32)[0]
    r["input_ids"] = ids[0]
    r["greedy"] = o.greedy(inp)[0]
    return r, None


def write_golden(path, args, seqs, summary, command, o):
    w = gguf_io.GGUFWriter()
    w.add_string("general.architecture", "captiond-golden")
    w.add_string("golden.command", command)
    w.add_string("golden.lm_args", args.lm_args)
    w.add_string("golden.mmproj_args", args.mmproj_args)
    w.add_string("golden.lm_sha256", sha256(args.lm))
    w.add_string("golden.mmproj_sha256", sha256(args.mmproj))
    w.add_string("golden.transformers_version", o.tf.__version__)
    w.add_string("golden.torch_version", o.torch.__version__)
    w.add_string("golden.prompt", args.prompt)
    w.add_u32("golden.n_seq", len(seqs))
    for b, s in enumerate(seqs):
        p = "golden.seq.%d." % b
        for k in ("image_width", "image_height", "image_seed", "crop_width", "crop_height"):
            w.add_u32(p + k, s[k])
        w.add_array(p + "input_ids", s["input_ids"], gguf_io.INT32)
        w.add_array(p + "greedy", s["greedy"], gguf_io.INT32)
        # additive evidence for the C side's tolerance (README)
        w.add_f32(p + "f64_max_abs_diff_logits",
                  summary["seqs"][b]["f32_vs_f64_max_abs"]["logits"])
    for b, s in enumerate(seqs):
        w.add_tensor("seq.%d.vision" % b, s["vision"])        # [D_v, n_patches]
        w.add_tensor("seq.%d.projector" % b, s["projector"])  # [d, N]
        w.add_tensor("seq.%d.logits" % b, s["logits"])        # [V, T]
    w.write(path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lm", required=True)
    ap.add_argument("--mmproj", required=True)
    ap.add_argument("--lm-args", required=True, help="make-model arguments of the LM")
    ap.add_argument("--mmproj-args", required=True, help="make-model arguments of the mmproj")
    ap.add_argument("--image", action="append", required=True, help="WxH:SEED (repeat for a batch)")
    ap.add_argument("--prompt", default=DEFAULT_PROMPT)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", required=True)
    ap.add_argument("--summary", help="append a JSON line with the checks here")
    args = ap.parse_args(argv)
    command = "tests/reference/oracle.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    o = Oracle(args.lm, args.mmproj, args.device)
    seqs, summary = run_case(o, [parse_image(s) for s in args.image], args.prompt)
    write_golden(args.out, args, seqs, summary, command, o)
    summary.update({"out": args.out, "command": command,
                    "transformers": o.tf.__version__, "torch": o.torch.__version__})
    line = json.dumps(summary)
    print(line)
    if args.summary:
        with open(args.summary, "a") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
