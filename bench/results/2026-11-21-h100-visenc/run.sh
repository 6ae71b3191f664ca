#!/bin/sh
# visenc device run (final): tests on the H100 (both attention kernels,
# vision goldens), vision bench Q8_0 / F16 / plain attention, profiles.
H=$(cd "$(dirname "$0")" && pwd); R=$(pwd)
M=/tmp/m; mkdir -p $M
nvidia-smi --query-gpu=name,driver_version,clocks.sm --format=csv,noheader
make-model --preset 450m --lm-type Q4_0 --mmproj-type Q8_0 --lm $M/lm.gguf --mmproj $M/mm.gguf >/dev/null || exit 1
make-model --preset 450m --lm-type Q4_0 --mmproj-type F16 --lm $M/lm16.gguf --mmproj $M/mm16.gguf >/dev/null || exit 1
rm -f $M/lm16.gguf
for g in norm-attn attn; do echo "== test-gpu-vision-ops $g"; $H/test-gpu-vision-ops $g; echo "rc=$?"; done > $OUT/test-vision-ops.txt 2>&1
grep -E "^==|rc=|attention|unshuffle|layer_norm|CHECK|checks" $OUT/test-vision-ops.txt
for g in goldens f16 tiled; do echo "== test-gpu-vision $g"; CAPTIOND_SOURCE_ROOT=$R CAPTIOND_BUILD_ROOT=$H/broot $H/test-gpu-vision $g; echo "rc=$?"; done > $OUT/test-vision.txt 2>&1
grep -vE "validation error|^$" $OUT/test-vision.txt | tail -40
captionctl bench vision --mmproj $M/mm.gguf > $OUT/bench-vision.json 2>&1; cat $OUT/bench-vision.json
captionctl bench vision --mmproj $M/mm16.gguf > $OUT/bench-vision-f16.json 2>&1; cat $OUT/bench-vision-f16.json
CAPTIOND_VISION_ATTN=plain captionctl bench vision --mmproj $M/mm.gguf --sizes 512x512 --batches 1,16 > $OUT/bench-vision-plain-attn.json 2>&1; cat $OUT/bench-vision-plain-attn.json
CAPTIOND_PROFILE=1 captionctl bench vision --mmproj $M/mm.gguf --sizes 512x512 --batches 1 > $OUT/profile-vision-b1.txt 2>&1
CAPTIOND_PROFILE=1 captionctl bench vision --mmproj $M/mm.gguf --sizes 512x512 --batches 16 > $OUT/profile-vision-b16.txt 2>&1
for f in $OUT/profile-vision-b1.txt $OUT/profile-vision-b16.txt; do
  echo "== $f"; sed 's/layers\.[0-9]*\./layers.*./' $f | awk 'NF==6 && $2 ~ /^[0-9]+$/ {t[$1]+=$3; c[$1]+=$2} END {for (k in t) printf "%-56s %6d %10.1f\n", k, c[k], t[k]}' | sort -k3 -nr | head -20
done
