#!/bin/sh
# One device run: the LM, vision and caption benchmarks on the 450m preset.
cd "$(dirname "$0")"
export LD_LIBRARY_PATH=$PWD/lib
B=$PWD
M=/tmp/models; mkdir -p $M
nvidia-smi --query-gpu=name,driver_version,clocks.sm --format=csv,noheader
$B/make-model --preset 450m --lm-type Q4_0 --mmproj-type Q8_0 --lm $M/lm.gguf --mmproj $M/mm.gguf
$B/captionctl bench lm --model $M/lm.gguf 2>&1 | tee $OUT/bench-lm.json
CAPTIOND_PROFILE=1 $B/captionctl generate --model $M/lm.gguf --max-tokens 64 "Describe a kitchen." > $OUT/profile-generate.txt 2>&1
$B/captionctl bench vision --mmproj $M/mm.gguf 2>&1 | tee $OUT/bench-vision.json
$B/captionctl bench caption --model $M/lm.gguf --mmproj $M/mm.gguf --iters 5 2>&1 | tee $OUT/bench-caption.json
$B/bench-matmul --iters 100 > $OUT/bench-matmul.json 2>&1
tail -5 $OUT/bench-matmul.json
