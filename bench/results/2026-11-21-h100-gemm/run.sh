#!/bin/sh
# gemm helper, device call 3 (final): app figures, correctness on NVIDIA, bench-matmul.
B=$(cd "$(dirname "$0")" && pwd)
M=/tmp/models3; mkdir -p $M
nvidia-smi --query-gpu=name,driver_version,clocks.sm --format=csv,noheader | tee $OUT/device.txt
$B/make-model --preset 450m --lm-type Q4_0 --mmproj-type F16 --lm $M/lm.gguf --mmproj $M/mmf16.gguf
$B/make-model --preset 450m --lm-type Q4_0 --mmproj-type Q8_0 --lm $M/lm2.gguf --mmproj $M/mmq8.gguf
timeout 60 $B/captionctl bench lm --model $M/lm.gguf > $OUT/bench-lm-first.json 2>&1
timeout 60 $B/captionctl bench lm --model $M/lm.gguf > $OUT/bench-lm.json 2>&1
timeout 40 $B/captionctl bench vision --mmproj $M/mmf16.gguf --sizes 512x512 --batches 1,16 > $OUT/bench-vision-f16.json 2>&1
timeout 40 $B/captionctl bench vision --mmproj $M/mmq8.gguf --sizes 512x512 --batches 1,16 > $OUT/bench-vision-q8.json 2>&1
cut -c1-330 $OUT/bench-lm-first.json $OUT/bench-lm.json; cut -c190-700 $OUT/bench-vision-*.json
for g in tiles shapes epilogue types split; do timeout 120 $B/test-gpu-mul-mat $g > $OUT/test-$g.log 2>&1; echo "test $g rc=$? $(grep -h 'checks' $OUT/test-$g.log) max nmse $(grep -o 'nmse [0-9.e+-]*' $OUT/test-$g.log | awk '{print $2}' | sort -g | tail -1) validation $(grep -c 'validation error' $OUT/test-$g.log)"; done
timeout 150 $B/bench-matmul --iters 100 > $OUT/bench-matmul.json 2>$OUT/bench-matmul.err; echo "bench rc=$? lines $(wc -l < $OUT/bench-matmul.json)"
