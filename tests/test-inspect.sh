#!/bin/sh
# tests/test-inspect.sh CAPTIONCTL CORPUS_DIR — captionctl inspect: good
# files exit 0 with the right facts (text and --json, parsed by python3),
# bad files exit 1 with exactly one line on stderr, usage errors exit 2.
# The GPT-2 vocabulary part needs $CAPTIOND_SHARED_DIR; without it the test
# exits 77 after the rest has passed.
set -u
ctl=$1
corpus=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
no() { echo "FAIL: $*" >&2; fail=1; }

# run ARGS...: exit status in $rc, stdout in $tmp/out, stderr in $tmp/err
run() { "$ctl" "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; }
one_line_err() { [ "$(wc -l <"$tmp/err")" -eq 1 ] && [ ! -s "$tmp/out" ]; }
# json EXPR: python3 evaluates EXPR with j = the --json output; true -> 0
json() { python3 -c "import json,sys; j=json.load(open('$tmp/out')); sys.exit(0 if ($1) else 1)"; }

run inspect; [ $rc -eq 2 ] || no "no file: exit $rc, expected 2"
run inspect a.gguf b.gguf; [ $rc -eq 2 ] || no "two files: exit $rc"
run inspect --bogus a.gguf; [ $rc -eq 2 ] || no "unknown flag: exit $rc"
run inspect --help; [ $rc -eq 0 ] && grep -q '^usage: captionctl inspect' "$tmp/out" || no "--help"
run inspect "$tmp/missing.gguf"; [ $rc -eq 1 ] && one_line_err || no "missing file: exit $rc"
grep -qx "$tmp/missing.gguf: byte 0: cannot open: No such file or directory" "$tmp/err" || no "missing file message: $(cat "$tmp/err")"

# The micro LFM2 files of the fuzz corpus (tests/fuzz/make-corpus.c shapes).
lm=$corpus/lfm2-micro-q4_0.gguf
run inspect "$lm"; [ $rc -eq 0 ] || no "micro lm: exit $rc: $(cat "$tmp/err")"
grep -qx 'architecture: lfm2' "$tmp/out" && grep -qx '  layers: CA' "$tmp/out" &&
	grep -qx '  d_model: 32' "$tmp/out" && grep -qx 'tensor_count: 21' "$tmp/out" || no "micro lm text"
run inspect "$lm" --json; [ $rc -eq 0 ] || no "micro lm --json: exit $rc"
python3 -m json.tool "$tmp/out" >/dev/null || no "micro lm --json does not parse"
json "j['hparams']['n_layer'] == 2 and j['hparams']['head_dim'] == 16 and j['types']['Q4_0']['tensors'] == 12 and j['types']['F16']['tensors'] == 1 and j['tensor_bytes'] == sum(t['bytes'] for t in j['types'].values())" || no "micro lm json values"
run inspect --json "$corpus/clip-micro-q8_0.gguf"
[ $rc -eq 0 ] && json "j['architecture'] == 'clip' and j['hparams']['pos_grid'] == 2 and j['hparams']['has_input_norm'] is True and j['hparams']['image_mean'] == [0.5, 0.5, 0.5]" || no "micro clip json"
run inspect "$corpus/lfm2-bad-shape.gguf"; [ $rc -eq 1 ] && one_line_err || no "bad shape: exit $rc"
grep -qx "$corpus/lfm2-bad-shape.gguf: tensor 'blk.0.ffn_down.weight' has shape \[64, 32\], expected \[32, 32\]" "$tmp/err" || no "bad shape message: $(cat "$tmp/err")"
# A file truncated inside its header.
head -c 500 "$lm" >"$tmp/cut.gguf"
run inspect "$tmp/cut.gguf"; [ $rc -eq 1 ] && one_line_err || no "truncated lm: exit $rc"
grep -q "^$tmp/cut.gguf: byte [0-9]*: " "$tmp/err" || no "truncated lm message: $(cat "$tmp/err")"

# Strings from the file are escaped: one JSON object, no raw control bytes.
run inspect --json "$corpus/weird-strings.gguf"; [ $rc -eq 0 ] || no "weird strings: exit $rc"
json "j['architecture'] == 'we\"ird\\n\\ufffd' and j['general']['name'] == 'tab\\there\\x01' and j['tokenizer']['model'] == '\\u00e9\\\\'" || no "weird strings json: $(cat "$tmp/out")"
run inspect "$corpus/weird-strings.gguf"; [ $rc -eq 0 ] || no "weird strings text: exit $rc"
line=$(printf 'architecture: we"ird\\x0a\357\277\275')  # U+FFFD for the bad byte
grep -qxF "$line" "$tmp/out" || no "weird strings text: $(cat "$tmp/out")"

vocab=${CAPTIOND_SHARED_DIR:-}/data/tokenizer/ggml-vocab-gpt-2.gguf
if [ -z "${CAPTIOND_SHARED_DIR:-}" ] || [ ! -f "$vocab" ]; then
	[ $fail -eq 0 ] || exit 1
	echo "SKIP: GPT-2 vocabulary GGUF $vocab absent (CAPTIOND_SHARED_DIR)" >&2
	exit 77
fi
run inspect "$vocab"; [ $rc -eq 0 ] || no "vocab: exit $rc: $(cat "$tmp/err")"
grep -qx 'architecture: gpt2' "$tmp/out" && grep -qx '  tokens: 50257' "$tmp/out" &&
	grep -qx '  merges: 50000' "$tmp/out" && grep -qx 'tensor_count: 0' "$tmp/out" || no "vocab text: $(cat "$tmp/out")"
run inspect --json "$vocab"; [ $rc -eq 0 ] || no "vocab --json: exit $rc"
python3 -m json.tool "$tmp/out" >/dev/null || no "vocab --json does not parse"
json "j['tokenizer']['tokens'] == 50257 and j['tokenizer']['model'] == 'gpt2' and j['tensor_count'] == 0 and j['types'] == {}" || no "vocab json values"
head -c 100000 "$vocab" >"$tmp/vocab-cut.gguf"
run inspect "$tmp/vocab-cut.gguf"; [ $rc -eq 1 ] && one_line_err || no "truncated vocab: exit $rc, stderr $(cat "$tmp/err")"
grep -q "^$tmp/vocab-cut.gguf: byte [0-9]*: " "$tmp/err" || no "truncated vocab message: $(cat "$tmp/err")"
run inspect --json "$tmp/vocab-cut.gguf"; [ $rc -eq 1 ] && one_line_err || no "truncated vocab --json: exit $rc"
[ $fail -eq 0 ] && echo "test-inspect: ok"
exit $fail
