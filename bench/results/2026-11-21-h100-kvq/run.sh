#!/bin/sh
# One device run (branch kvq): captionctl bench lm with each KV cache type on
# the 450m Q4_0 preset, and the per-kernel profiles (batch-1 generate; 16
# sequences decoding ~810 positions deep). Run as
#   sh .device/kvq/env.sh sh .device/kvq/run.sh   (files land in $OUT)
set -u
M=/tmp/models; mkdir -p $M
nvidia-smi --query-gpu=name,driver_version,clocks.sm --format=csv,noheader
make-model --preset 450m --lm-type Q4_0 --lm $M/lm.gguf
for kv in f16 q8_0 q4_0; do
	captionctl bench lm --model $M/lm.gguf --kv-type $kv > $OUT/bench-lm-$kv.json 2> $OUT/bench-lm-$kv.log
	cat $OUT/bench-lm-$kv.json
done
for kv in f16 q4_0; do
	CAPTIOND_PROFILE=1 captionctl generate --model $M/lm.gguf --max-tokens 64 --kv-type $kv \
		"Describe a kitchen." > $OUT/profile-generate-$kv.txt 2>&1
	CAPTIOND_PROFILE=1 captionctl bench lm --model $M/lm.gguf --kv-type $kv > /dev/null \
		2> $OUT/profile-decode16-$kv.txt
done
grep -h "attention\|profile:\|generate:" $OUT/profile-*.txt | head -60
# Correctness on the H100 (the tests of the gpu suite that cover this work).
mkdir -p /tmp/b/tests/tools && cp "$(command -v make-model)" /tmp/b/tests/tools/
HERE=$(cd "$(dirname "$0")" && pwd)
for g in attn; do "$HERE/test-gpu-lm-ops" $g > $OUT/test-gpu-lm-ops-$g.txt 2>&1; echo "test-gpu-lm-ops $g: exit $?"; done
for m in gpu gpu-q8_0kv gpu-q4_0kv; do
	CAPTIOND_SOURCE_ROOT=$PWD CAPTIOND_BUILD_ROOT=/tmp/b timeout 100 "$HERE/test-gpu-lm" $m > $OUT/test-gpu-lm-$m.txt 2>&1
	echo "test-gpu-lm $m: exit $?"; grep -h "NMSE\|greedy:\|batched\|failed" $OUT/test-gpu-lm-$m.txt | head -20
done
tail -3 $OUT/test-gpu-lm-ops-attn.txt
