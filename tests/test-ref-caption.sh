#!/bin/sh
# tests/test-ref-caption.sh MAKE-MODEL REF-CAPTION — the demo's path: a tiny
# model captions a test frame, and bad input is refused with a clear line.
# (That the reference's greedy tokens equal transformers' is reference-goldens.)
set -eu
make_model=$1 ref_caption=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$make_model" --preset tiny --lm-type F32 --mmproj-type F32 --seed 1 --lm "$dir/lm.gguf" --mmproj "$dir/mm.gguf"
"$ref_caption" --lm "$dir/lm.gguf" --mmproj "$dir/mm.gguf" --width 512 --height 288 --seed 1 \
	--max-tokens 24 >"$dir/caption" 2>"$dir/log" || { cat "$dir/log"; exit 1; }
cat "$dir/log"
# Refuses bad input with a clear line and exit 2 / 1.
if "$ref_caption" --lm "$dir/lm.gguf" 2>/dev/null; then echo "missing --mmproj accepted"; exit 1; fi
head -c 1000 "$dir/lm.gguf" >"$dir/cut.gguf"
if "$ref_caption" --lm "$dir/cut.gguf" --mmproj "$dir/mm.gguf" 2>"$dir/err"; then echo "truncated model accepted"; exit 1; fi
grep -q "cut.gguf" "$dir/err" || { echo "error does not name the file:"; cat "$dir/err"; exit 1; }
[ -s "$dir/caption" ] || { echo "empty caption"; exit 1; }
echo "caption: $(cat "$dir/caption")"
