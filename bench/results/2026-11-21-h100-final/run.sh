#!/bin/sh
# Final engine run: LM, vision, caption benchmarks, profiles, gpu suite with validation.
H=$(cd "$(dirname "$0")" && pwd)
M=/tmp/m; mkdir -p $M
make-model --preset 450m --lm-type Q4_0 --mmproj-type Q8_0 --lm $M/lm.gguf --mmproj $M/mm.gguf >/dev/null || exit 1
make-model --preset 450m --lm-type Q4_0 --mmproj-type F16 --lm $M/lm16.gguf --mmproj $M/mm16.gguf >/dev/null || exit 1
captionctl bench lm --model $M/lm.gguf > /dev/null 2>&1   # warm-up: pipeline cache, clocks
for k in 16 1; do captionctl bench lm --model $M/lm.gguf --decode-chunk $k; done > $OUT/bench-lm.json 2>&1
captionctl bench lm --model $M/lm.gguf --kv-type q4_0 > $OUT/bench-lm-q4kv.json 2>&1
cat $OUT/bench-lm.json $OUT/bench-lm-q4kv.json | cut -c1-900
CAPTIOND_PROFILE=1 captionctl generate --model $M/lm.gguf --max-tokens 64 --decode-chunk 1 "Describe a kitchen." > $OUT/profile-generate.txt 2>&1
head -30 $OUT/profile-generate.txt
{ captionctl bench vision --mmproj $M/mm.gguf; captionctl bench vision --mmproj $M/mm16.gguf; } > $OUT/bench-vision.json 2>&1; cut -c1-600 $OUT/bench-vision.json
CAPTIOND_PROFILE=1 captionctl bench vision --mmproj $M/mm.gguf --sizes 512x512 --batches 1 > $OUT/profile-vision-b1.txt 2>&1
sed 's/layers\.[0-9]*\./layers.*./' $OUT/profile-vision-b1.txt | awk 'NF==6 && $2 ~ /^[0-9]+$/ {t[$1]+=$3; c[$1]+=$2} END {for (k in t) printf "%-56s %6d %10.1f\n", k, c[k], t[k]}' | sort -k3 -nr | head -12
captionctl bench caption --model $M/lm.gguf --mmproj $M/mm.gguf --iters 5 > $OUT/bench-caption.json 2>&1; cut -c1-1200 $OUT/bench-caption.json
[ "${SKIP_TESTS:-}" ] || sh $H/run-tests.sh
