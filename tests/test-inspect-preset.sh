#!/bin/sh
# tests/test-inspect-preset.sh PRESET MAKE_MODEL CAPTIONCTL — captionctl
# inspect reads make-model's LM (Q4_0) and mmproj (Q8_0) of PRESET (tiny, or
# 450m: the exact shapes of LFM2-VL-450M, spec §1.9) and reports the preset's
# hyperparameters and, per tensor type, the tensor count and bytes that the
# spec's tensor tables (§1.6, §1.8) and block sizes (§2.1) give for those
# shapes (for 450m: the 216.9 MB / 105.1 MB payloads of spec §8.2).
set -eu
preset=$1
make_model=$2
ctl=$3
command -v python3 >/dev/null || { echo "SKIP: python3 absent" >&2; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$make_model" --preset "$preset" --lm-type Q4_0 --mmproj-type Q8_0 --lm "$tmp/lm.gguf" --mmproj "$tmp/mm.gguf"
"$ctl" inspect --json "$tmp/lm.gguf" >"$tmp/lm.json"
"$ctl" inspect --json "$tmp/mm.gguf" >"$tmp/mm.json"
python3 - "$tmp/lm.json" "$tmp/mm.json" "$preset" <<'PY'
import json, sys
lm = json.load(open(sys.argv[1]))
mm = json.load(open(sys.argv[2]))
# (d, ff, vocab, heads, kv heads, layer kinds, context) and
# (vision width, ff, layers, heads, projector hidden, LM width).
PRESETS = {
    "tiny": ((256, 512, 2048, 4, 2, "CCACCA", 4096), (128, 256, 2, 2, 256, 256)),
    "450m": ((1024, 4608, 65536, 16, 8, "CCACCACCACACACAC", 128000), (768, 3072, 12, 12, 2560, 1024)),
}
(d, ff, V, nh, nkv, kinds, ctx), (D, F, L, vh, P, dm) = PRESETS[sys.argv[3]]
hd = 64
fails = []
def want(what, got, exp):
    if got != exp:
        fails.append(f"{what}: got {got!r}, expected {exp!r}")

# Block sizes of spec §2.1: (elements, bytes).
BLOCK = {"F32": (1, 4), "F16": (1, 2), "Q4_0": (32, 18), "Q8_0": (32, 34), "Q6_K": (256, 210)}
def tally(tensors):
    out = {}
    for typ, ne in tensors:
        n = 1
        for x in ne:
            n *= x
        e, b = BLOCK[typ]
        t = out.setdefault(typ, {"tensors": 0, "bytes": 0})
        t["tensors"] += 1
        t["bytes"] += n // e * b
    return out

hp = lm["hparams"]
for k, v in dict(n_layer=len(kinds), layers=kinds, n_attention_layers=kinds.count("A"), d_model=d,
                 d_ff=ff, n_head=nh, n_head_kv=nkv, head_dim=hd, n_vocab=V, l_cache=3, context_length=ctx,
                 bos_id=1, eos_id=7, pad_id=0, add_bos=True).items():
    want(f"lm {k}", hp.get(k), v)
want("lm rms_eps", round(hp["rms_eps"], 12), 1e-5)
want("lm rope_theta", hp["rope_theta"], 1e6)
want("lm architecture", lm["architecture"], "lfm2")
# Q4_0 LM: token_embd is Q6_K (tied head, spec §2.9); 1-D and conv tensors F32.
t = [("Q6_K", (d, V)), ("F32", (d,))]
for k in kinds:
    t += [("F32", (d,)), ("F32", (d,)), ("Q4_0", (d, ff)), ("Q4_0", (d, ff)), ("Q4_0", (ff, d))]
    if k == "A":
        t += [("Q4_0", (d, nh * hd)), ("Q4_0", (d, nkv * hd)), ("Q4_0", (d, nkv * hd)),
              ("Q4_0", (nh * hd, d)), ("F32", (hd,)), ("F32", (hd,))]
    else:
        t += [("Q4_0", (d, 3 * d)), ("F32", (3, d)), ("Q4_0", (d, d))]
want("lm types", lm["types"], tally(t))
want("lm tensor_count", lm["tensor_count"], len(t))
want("lm tensor_bytes", lm["tensor_bytes"], sum(x["bytes"] for x in tally(t).values()))

# mmproj: patch 16, 16x16 positions, scale 2, projector LayerNorm, eps 1e-6, mean/std 0.5.
hp = mm["hparams"]
for k, v in dict(patch_size=16, width=D, d_ff=F, n_layer=L, n_head=vh, head_dim=D // vh, n_pos=256,
                 pos_grid=16, image_size=256, projection_dim=dm, scale_factor=2, proj_hidden=P,
                 has_input_norm=True, use_gelu=True, image_mean=[0.5] * 3, image_std=[0.5] * 3).items():
    want(f"mmproj {k}", hp.get(k), v)
want("mmproj ln_eps", round(hp["ln_eps"], 12), 1e-6)
want("mmproj proj_ln_eps", round(hp["proj_ln_eps"], 12), 1e-5)
t = [("F32", (16, 16, 3, D)), ("F32", (D,)), ("F32", (D, 256))]
for _ in range(L):
    t += [("Q8_0", (D, D)), ("F32", (D,))] * 4
    t += [("F32", (D,))] * 4
    t += [("Q8_0", (D, F)), ("F32", (F,)), ("Q8_0", (F, D)), ("F32", (D,))]
t += [("F32", (D,)), ("F32", (D,)), ("F32", (4 * D,)), ("F32", (4 * D,)),
      ("Q8_0", (4 * D, P)), ("F32", (P,)), ("Q8_0", (P, dm)), ("F32", (dm,))]
want("mmproj types", mm["types"], tally(t))
want("mmproj tensor_count", mm["tensor_count"], len(t))
for f in fails:
    print("FAIL:", f, file=sys.stderr)
sys.exit(1 if fails else 0)
PY
echo "test-inspect-preset $preset: ok"
