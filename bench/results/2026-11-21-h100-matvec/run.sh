#!/bin/sh
# matvec device run: bench lm (warms the GPU), profile, bench lm with env variants. Usage: run.sh VAR=VAL...
M=/tmp/lm.gguf
make-model --preset 450m --lm-type Q4_0 --lm $M > /dev/null
captionctl bench lm --model $M > $OUT/bench-lm.json 2>&1; cat $OUT/bench-lm.json
CAPTIOND_PROFILE=1 captionctl generate --model $M --max-tokens 64 "Describe a kitchen." > $OUT/profile-generate.txt 2>&1
head -2 $OUT/profile-generate.txt | tail -1
awk 'NR>2 && NF>=5 {k=$1; sub(/model\.language_model\.layers\.[0-9]+\./,"L.",k); n[k]+=$2; t[k]+=$3; x[k]+=$5} END {for (k in t) printf "%-34s %5d  per-token %8.2f us (excl. prefill max %8.2f)\n", k, n[k], t[k]/64, (t[k]-x[k])/63}' $OUT/profile-generate.txt | sort -k4 -nr | head -24
i=0; for f in "$@"; do i=$((i+1)); env $f captionctl bench lm --model $M > "$OUT/bench-lm-v$i.json" 2>&1; echo "$f: $(grep -o '"decode_tokens_s":{[^}]*}' $OUT/bench-lm-v$i.json)"; done
