#!/bin/sh
# mmv2 device run: for each variant (env settings, "-" = defaults): bench lm and a batch-1
# profile of 64 greedy tokens (its first line: the text, which must match across variants).
# Usage: run.sh VARIANT...   e.g. run.sh - "CAPTIOND_MMV_UNROLL=2"
M=/tmp/lm.gguf
make-model --preset 450m --lm-type Q4_0 --lm $M > /dev/null
i=0
for v in "$@"; do
	[ "$v" = - ] && v=
	echo "== v$i: ${v:-defaults}"
	env $v captionctl bench lm --model $M > "$OUT/bench-lm-v$i.json" 2>&1
	grep -o '"decode_tokens_s":{[^}]*}' "$OUT/bench-lm-v$i.json" || tail -3 "$OUT/bench-lm-v$i.json"
	env $v CAPTIOND_PROFILE=1 captionctl generate --model $M --max-tokens 64 --decode-chunk 1 \
		"Describe a kitchen." > "$OUT/profile-generate-v$i.txt" 2>&1
	head -2 "$OUT/profile-generate-v$i.txt" | cut -c1-160
	awk 'NR>2 && NF>=5 {k=$1; sub(/model\.language_model\.layers\.[0-9]+\./,"L.",k); n[k]+=$2; t[k]+=$3; x[k]+=$5; c[k]++} END {for (k in t) printf "%-30s %5d per-token %8.2f us (excl. max %7.2f us/call)\n", k, n[k], t[k]/64, (t[k]-x[k])/(n[k]-c[k])}' \
		"$OUT/profile-generate-v$i.txt" | sort -k4 -nr | head -9
	i=$((i+1))
done
