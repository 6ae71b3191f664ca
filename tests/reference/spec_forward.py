#!/usr/bin/env python3
"""Independent check of the goldens: the spec's forward pass written in numpy
(float64) straight from the GGUF tensors — no transformers, none of the
oracle's renames — compared with every tensor and greedy-free output of a
golden file. It confirms that what the oracle fed transformers is the model the
spec describes (weight layouts, patch/conv permutations, prompt, preprocessing
incl. the PIL resampler of spec §4.5).

  spec_forward.py GOLDEN.gguf MODELS_DIR      (models named as make_goldens.py)
  spec_forward.py --all MODELS_DIR            (every golden in tests/data/goldens)
Without MODELS_DIR: make-model from $CAPTIOND_BUILD_ROOT/tests/tools makes them
into a temporary folder; no make-model -> exit 77.
"""

import hashlib
import math
import os
import subprocess
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
import images  # noqa: E402
import make_goldens  # noqa: E402

# tolerances: float64 spec vs float32 HF (the f32 rounding is ~1e-4 on logits)
TOL = {"vision": 1e-4, "projector": 1e-4, "logits": 2e-3}


# ---------------------------------------------------------------- vision

def pil_bilinear_weights(n_in, n_out):
    """Spec §4.5: Pillow's antialiased bilinear, fixed point (22 bits)."""
    scale = n_in / n_out
    fs = max(scale, 1.0)
    out = []
    for o in range(n_out):
        center = (o + 0.5) * scale
        lo = max(int(center - fs + 0.5), 0)
        hi = min(int(center + fs + 0.5), n_in)
        w = [max(0.0, 1.0 - abs((j - center + 0.5) / fs)) for j in range(lo, hi)]
        s = sum(w)
        out.append((lo, [int(0.5 + x / s * (1 << 22)) if s else 0 for x in w]))
    return out


def _pass(img, weights, axis):
    """One resampling pass along axis (1 = x, 0 = y) of a uint8 HxWx3 image."""
    src = np.moveaxis(img.astype(np.int64), axis, 0)
    res = np.empty((len(weights),) + src.shape[1:], dtype=np.int64)
    for o, (lo, ks) in enumerate(weights):
        acc = np.full(src.shape[1:], 1 << 21, dtype=np.int64)
        for j, k in enumerate(ks):
            acc += k * src[lo + j]
        res[o] = np.clip(acc >> 22, 0, 255)
    return np.moveaxis(res, 0, axis).astype(np.uint8)


def pil_resize(img, w, h):
    H, W = img.shape[:2]
    if W != w:
        img = _pass(img, pil_bilinear_weights(W, w), 1)
    if H != h:
        img = _pass(img, pil_bilinear_weights(H, h), 0)
    return img


def aa_weights(n, m):
    """Spec §4.8: torch bilinear, align_corners False, antialias."""
    scale = n / m
    support = max(1.0, scale)
    W = np.zeros((m, n))
    for o in range(m):
        center = (o + 0.5) * scale
        lo = max(0, math.trunc(center - support + 0.5))
        hi = min(n, math.trunc(center + support + 0.5))
        w = np.array([max(0.0, 1.0 - abs((j - center + 0.5) / support)) for j in range(lo, hi)])
        W[o, lo:hi] = w / w.sum()
    return W


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def softmax(a):
    a = a - a.max(-1, keepdims=True)
    e = np.exp(a)
    return e / e.sum(-1, keepdims=True)


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3)))


_erf = np.vectorize(math.erf)


def gelu_erf(x):
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


def vision(mm, pixels):
    """pixels: uint8 (h, w, 3) crop. Returns (post-LN patches (n, D), projector (N, d))."""
    T = lambda n: mm.tensor_f32(n).astype(np.float64)  # noqa: E731
    kv = mm.kv
    ps = int(kv["clip.vision.patch_size"])
    D = int(kv["clip.vision.embedding_length"])
    nh = int(kv["clip.vision.attention.head_count"])
    eps = float(kv["clip.vision.attention.layer_norm_epsilon"])
    mean = np.asarray(kv["clip.vision.image_mean"], np.float64)
    std = np.asarray(kv["clip.vision.image_std"], np.float64)
    h, w = pixels.shape[:2]
    gh, gw = h // ps, w // ps
    x = (pixels.astype(np.float64) / 255.0 - mean) / std             # (h, w, c)
    # patch n = py*gw + px, kernel K[o][c][ky][kx] (numpy view of [kx, ky, c, o])
    p = x.reshape(gh, ps, gw, ps, 3).transpose(0, 2, 4, 1, 3).reshape(gh * gw, 3 * ps * ps)
    K = T("v.patch_embd.weight").reshape(D, -1)                       # (D, c*ky*kx)
    e = p @ K.T + T("v.patch_embd.bias")
    P0 = T("v.position_embd.weight")                                  # (256, D), p = 16y + x
    g0 = int(round(math.sqrt(P0.shape[0])))
    P0 = P0.reshape(g0, g0, D)
    if (gh, gw) != (g0, g0):   # separable: rows then columns
        P0 = np.tensordot(aa_weights(g0, gh), P0, axes=(1, 0))              # (gh, g0, D)
        P0 = np.tensordot(aa_weights(g0, gw), P0, axes=(1, 1)).transpose(1, 0, 2)
    e = e + P0.reshape(gh * gw, D)
    hd = D // nh
    for i in range(int(kv["clip.vision.block_count"])):
        b = "v.blk.%d." % i
        u = layer_norm(e, T(b + "ln1.weight"), T(b + "ln1.bias"), eps)
        q = (u @ T(b + "attn_q.weight").T + T(b + "attn_q.bias")).reshape(-1, nh, hd)
        k = (u @ T(b + "attn_k.weight").T + T(b + "attn_k.bias")).reshape(-1, nh, hd)
        v = (u @ T(b + "attn_v.weight").T + T(b + "attn_v.bias")).reshape(-1, nh, hd)
        q, k, v = (t.transpose(1, 0, 2) for t in (q, k, v))       # (heads, n, hd)
        a = softmax(q @ k.transpose(0, 2, 1) / math.sqrt(hd))
        o = (a @ v).transpose(1, 0, 2).reshape(-1, D)
        e = e + o @ T(b + "attn_out.weight").T + T(b + "attn_out.bias")
        u = layer_norm(e, T(b + "ln2.weight"), T(b + "ln2.bias"), eps)
        f = gelu_tanh(u @ T(b + "ffn_up.weight").T + T(b + "ffn_up.bias"))
        e = e + f @ T(b + "ffn_down.weight").T + T(b + "ffn_down.bias")
    e = layer_norm(e, T("v.post_ln.weight"), T("v.post_ln.bias"), eps)
    # pixel unshuffle (spec §4.10): channel dy*2D + dx*D + c
    fct = int(kv["clip.vision.projector.scale_factor"])
    F = e.reshape(gh // fct, fct, gw // fct, fct, D).transpose(0, 2, 1, 3, 4)
    u = F.reshape((gh // fct) * (gw // fct), fct * fct * D)
    if "mm.input_norm.weight" in mm.by_name:
        u = layer_norm(u, T("mm.input_norm.weight"), T("mm.input_norm.bias"), 1e-5)
    t = gelu_erf(u @ T("mm.1.weight").T + T("mm.1.bias"))
    return e, t @ T("mm.2.weight").T + T("mm.2.bias")


# -------------------------------------------------------------------- LM

def rms(x, w, eps):
    return w * x / np.sqrt((x * x).mean(-1, keepdims=True) + eps)


def lm_logits(lm, ids, img_rows):
    T = lambda n: lm.tensor_f32(n).astype(np.float64)  # noqa: E731
    a = "lfm2"
    kv = lm.kv
    d = int(kv[a + ".embedding_length"])
    nh = int(kv[a + ".attention.head_count"])
    kvh = [int(x) for x in kv[a + ".attention.head_count_kv"]]
    eps = float(kv[a + ".attention.layer_norm_rms_epsilon"])
    base = float(kv[a + ".rope.freq_base"])
    E = T("token_embd.weight")
    ids = np.asarray(ids)
    h = E[ids].copy()
    slots = np.nonzero(ids == 396)[0]
    assert len(slots) == len(img_rows)
    h[slots] = img_rows
    n = len(ids)
    hd = d // nh
    pos = np.arange(n, dtype=np.float64)
    inv = 1.0 / base ** (np.arange(0, hd, 2) / hd)
    ang = pos[:, None] * inv[None, :]
    cos, sin = np.cos(ang), np.sin(ang)

    def rope(x):      # (n, heads, hd), NeoX pairs (i, i + hd/2)
        x1, x2 = x[..., :hd // 2], x[..., hd // 2:]
        c, s = cos[:, None, :], sin[:, None, :]
        return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], -1)

    causal = np.triu(np.full((n, n), -np.inf), 1)
    for i, nkv in enumerate(kvh):
        b = "blk.%d." % i
        u = rms(h, T(b + "attn_norm.weight"), eps)
        if nkv == 0:
            z = u @ T(b + "shortconv.in_proj.weight").T
            B, C, X = z[:, :d], z[:, d:2 * d], z[:, 2 * d:]
            s = B * X
            w = T(b + "shortconv.conv.weight")           # (d, 3): element (k, ch)
            sp = np.vstack([np.zeros((2, d)), s])
            c = w[:, 0] * sp[:-2] + w[:, 1] * sp[1:-1] + w[:, 2] * sp[2:]
            out = (C * c) @ T(b + "shortconv.out_proj.weight").T
        else:
            q = (u @ T(b + "attn_q.weight").T).reshape(n, nh, hd)
            k = (u @ T(b + "attn_k.weight").T).reshape(n, nkv, hd)
            v = (u @ T(b + "attn_v.weight").T).reshape(n, nkv, hd)
            q = rope(rms(q, T(b + "attn_q_norm.weight"), eps))
            k = rope(rms(k, T(b + "attn_k_norm.weight"), eps))
            r = nh // nkv
            k, v = np.repeat(k, r, axis=1), np.repeat(v, r, axis=1)
            q, k, v = (t.transpose(1, 0, 2) for t in (q, k, v))   # (heads, n, hd)
            att = softmax(q @ k.transpose(0, 2, 1) / math.sqrt(hd) + causal)
            o = (att @ v).transpose(1, 0, 2).reshape(n, nh * hd)
            out = o @ T(b + "attn_output.weight").T
        h = h + out
        u = rms(h, T(b + "ffn_norm.weight"), eps)
        gte = u @ T(b + "ffn_gate.weight").T
        h = h + ((gte / (1 + np.exp(-gte))) * (u @ T(b + "ffn_up.weight").T)) @ T(b + "ffn_down.weight").T
    return rms(h, T("token_embd_norm.weight"), eps) @ E.T


# ----------------------------------------------------------------- driver

def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def model_file(models_dir, args):
    for name, a in make_goldens.MODELS.items():
        if a == args:
            return os.path.join(models_dir, name)
    raise KeyError("no model file for make-model args %r" % args)


def check_golden(path, models_dir):
    r = g.GGUFReader(path)
    kv = r.kv
    lmf = model_file(models_dir, kv["golden.lm_args"])
    mmf = model_file(models_dir, kv["golden.mmproj_args"])
    if sha256(lmf) != kv["golden.lm_sha256"] or sha256(mmf) != kv["golden.mmproj_sha256"]:
        print("FAIL %s: model files differ from the ones the golden was made from" % path)
        return False
    lm, mm = g.GGUFReader(lmf), g.GGUFReader(mmf)
    ok = True
    for b in range(kv["golden.n_seq"]):
        p = "golden.seq.%d." % b
        w, h, s = (int(kv[p + k]) for k in ("image_width", "image_height", "image_seed"))
        cw, ch = images.smart_resize(h, w)
        if (cw, ch) != (kv[p + "crop_width"], kv[p + "crop_height"]):
            print("FAIL crop size %dx%d vs golden" % (cw, ch))
            ok = False
        img = pil_resize(images.test_image(w, h, s), cw, ch)
        ve, proj = vision(mm, img)
        logits = lm_logits(lm, list(kv[p + "input_ids"]), proj)
        got = {"vision": ve, "projector": proj, "logits": logits}
        line = []
        for k, v in got.items():
            gold = r.tensor_f32("seq.%d.%s" % (b, k)).astype(np.float64)
            if gold.shape != v.shape:
                print("FAIL %s seq %d %s: shape %s vs %s" % (path, b, k, gold.shape, v.shape))
                ok = False
                continue
            d = float(np.abs(gold - v).max())
            line.append("%s %.2e" % (k, d))
            ok &= d <= TOL[k]
        # greedy's first token = argmax of the last prompt position
        first = int(np.argmax(logits[-1]))
        ok &= first == int(kv[p + "greedy"][0])
        print("%s seq %d: max |spec f64 - golden| %s; first greedy %s" %
              (os.path.basename(path), b, ", ".join(line),
               "equal" if first == int(kv[p + "greedy"][0]) else "DIFFERS"))
    return ok


def main():
    args = sys.argv[1:]
    goldens = []
    if args and args[0] == "--all":
        args = args[1:]
        gd = os.path.join(HERE, "..", "data", "goldens")
        goldens = sorted(os.path.join(gd, f) for f in os.listdir(gd) if f.endswith(".gguf"))
    elif args:
        goldens, args = [args[0]], args[1:]
    if not goldens:
        print(__doc__)
        return 2
    tmp = None
    if args:
        models = args[0]
    else:
        mk = os.path.join(os.environ.get("CAPTIOND_BUILD_ROOT", "build"), "tests", "tools", "make-model")
        if not os.access(mk, os.X_OK):
            print("SKIP: make-model not built (%s)" % mk)
            return 77
        tmp = tempfile.TemporaryDirectory()
        models = tmp.name
        make_goldens.make_models(mk, models)
    ok = all([check_golden(p, models) for p in goldens])
    print("spec forward vs goldens:", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
