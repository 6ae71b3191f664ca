#!/usr/bin/env python3
"""Remake every golden of tests/data/goldens (see tests/reference/README.md).

Two steps, which may run on different machines:
  models: make-model writes the tiny model files into MODELS_DIR
          make_goldens.py models --make-model build/tests/tools/make-model --models DIR
  oracle: oracle.py runs every case (needs torch + transformers)
          make_goldens.py oracle --models DIR --out tests/data/goldens
Run from the repository root. `--fixture` (oracle step) uses the stand-in pair of
test_oracle_local.py instead of make-model's files: a dry run of the oracle.
"""

import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# model file -> make-model arguments (recorded in the golden). The LM file is
# `make-model ARGS --lm FILE`, the mmproj file `make-model ARGS --lm UNUSED
# --mmproj FILE` (make-model always writes an LM; its type does not change the
# mmproj's bytes, each tensor being seeded from its own name).
MODELS = {
    "tiny-lm-F32.gguf": "--preset tiny --lm-type F32 --seed 1",
    "tiny-lm-Q4_0.gguf": "--preset tiny --lm-type Q4_0 --seed 1",
    "tiny-mmproj-F32.gguf": "--preset tiny --lm-type F32 --mmproj-type F32 --seed 1",
    "tiny-mmproj-Q8_0.gguf": "--preset tiny --lm-type F32 --mmproj-type Q8_0 --seed 1",
}
# (golden name, LM file, mmproj file, images)
CASES = [
    ("tiny-f32-512x288", "tiny-lm-F32.gguf", "tiny-mmproj-F32.gguf", ["512x288:1"]),
    ("tiny-f32-640x480", "tiny-lm-F32.gguf", "tiny-mmproj-F32.gguf", ["640x480:2"]),
    ("tiny-q4_0-512x288", "tiny-lm-Q4_0.gguf", "tiny-mmproj-Q8_0.gguf", ["512x288:1"]),
    ("tiny-q4_0-640x480", "tiny-lm-Q4_0.gguf", "tiny-mmproj-Q8_0.gguf", ["640x480:2"]),
    ("tiny-f32-batch2", "tiny-lm-F32.gguf", "tiny-mmproj-F32.gguf", ["512x288:1", "256x384:3"]),
]


def make_models(make_model, models_dir):
    os.makedirs(models_dir, exist_ok=True)
    for name, margs in MODELS.items():
        out = os.path.join(models_dir, name)
        if "--mmproj-type" in margs:
            cmd = [make_model] + margs.split() + [
                "--lm", os.path.join(models_dir, "unused-lm.gguf"), "--mmproj", out]
        else:
            cmd = [make_model] + margs.split() + ["--lm", out]
        print("+", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    unused = os.path.join(models_dir, "unused-lm.gguf")
    if os.path.exists(unused):
        os.remove(unused)


def run_oracle(models_dir, out_dir, fixture, device, only):
    import oracle
    os.makedirs(out_dir, exist_ok=True)
    summary = os.path.join(out_dir, "summary.jsonl")
    for name, lm, mm, imgs in CASES:
        if only and name not in only:
            continue
        if fixture:
            lm, mm = "fixture-lm.gguf", "fixture-mmproj.gguf"
            largs = margs = "fixture (test_oracle_local.py --write-fixture)"
        else:
            largs, margs = MODELS[lm], MODELS[mm]
        argv = ["--lm", os.path.join(models_dir, lm), "--mmproj", os.path.join(models_dir, mm),
                "--lm-args", largs, "--mmproj-args", margs]
        for im in imgs:
            argv += ["--image", im]
        argv += ["--device", device, "--out", os.path.join(out_dir, name + ".gguf"),
                 "--summary", summary]
        print("+ oracle.py", " ".join(argv), flush=True)
        oracle.main(argv)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("step", choices=["models", "oracle"])
    ap.add_argument("--make-model", default="build/tests/tools/make-model")
    ap.add_argument("--models", required=True)
    ap.add_argument("--out", default="tests/data/goldens")
    ap.add_argument("--fixture", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--only", action="append")
    a = ap.parse_args()
    sys.path.insert(0, HERE)
    if a.step == "models":
        make_models(a.make_model, a.models)
    else:
        run_oracle(a.models, a.out, a.fixture, a.device, a.only)


if __name__ == "__main__":
    main()
