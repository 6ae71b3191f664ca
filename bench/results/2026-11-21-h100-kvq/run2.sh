#!/bin/sh
# Second device run (kvq): the batch-1 generate profiles, and what the
# validation layer reports on the H100 (the tests' gpu_test_close failed).
set -u
M=/tmp/models; mkdir -p $M
HERE=$(cd "$(dirname "$0")" && pwd)
make-model --preset 450m --lm-type Q4_0 --lm $M/lm.gguf > /dev/null
for kv in f16 q4_0; do
	CAPTIOND_PROFILE=1 captionctl generate --model $M/lm.gguf --max-tokens 64 --kv-type $kv \
		"Describe a kitchen." > $OUT/profile-generate-$kv.txt 2>&1
done
CAPTIOND_PROFILE=1 captionctl generate --model $M/lm.gguf --max-tokens 1000 --kv-type q4_0 \
	"Describe a kitchen." > /tmp/long.txt 2>&1
grep -a "generate:\|label\|attention" /tmp/long.txt > $OUT/profile-generate-1000-q4_0.txt
mkdir -p /tmp/b/tests/tools && cp "$(command -v make-model)" /tmp/b/tests/tools/
T=$OUT/tests-h100.txt
for g in rows conv attn ffn-sample fused; do
	"$HERE/test-gpu-lm-ops" $g > /tmp/t-$g.txt 2>&1; echo "== test-gpu-lm-ops $g: exit $?" >> $T
	grep -h "CHECK failed\|checks," /tmp/t-$g.txt | sort | uniq -c | head -12 >> $T
	grep -h "rope_qk_norm\|split" /tmp/t-$g.txt | head -12 >> $T
	grep -ho "validation error: .*" /tmp/t-$g.txt | cut -c1-400 | sort | uniq -c | head -8 >> $T
done
for m in gpu gpu-q8_0kv gpu-q4_0kv; do
	CAPTIOND_SOURCE_ROOT=$PWD CAPTIOND_BUILD_ROOT=/tmp/b timeout 100 "$HERE/test-gpu-lm" $m > /tmp/t-$m.txt 2>&1
	echo "== test-gpu-lm $m: exit $?" >> $T
	grep -h "NMSE\|greedy:\|batched\|failed\|checks," /tmp/t-$m.txt >> $T
	grep -ho "validation error: .*" /tmp/t-$m.txt | cut -c1-400 | sort | uniq -c | head -8 >> $T
done
cat $T | cut -c1-300
grep -ah "attention\|generate:" $OUT/profile-generate-*.txt | head -30
