#!/usr/bin/env python3
"""captionctl tokenize against the LFM2 goldens (tests/data/tokenizer), and
--decode back to the text.

    test-tokenize-cli.py CAPTIONCTL
"""
import os
import subprocess
import sys

SEP = b"\n__ggml_vocab_test__\n"


def main():
    ctl = sys.argv[1]
    data = os.path.join(os.environ.get("CAPTIOND_SOURCE_ROOT", "."), "tests", "data", "tokenizer")
    vocab = os.path.join(data, "lfm2-test-vocab.gguf")
    texts = open(os.path.join(data, "lfm2-test.inp"), "rb").read().split(SEP)[:-1]
    outs = open(os.path.join(data, "lfm2-test.out")).read().splitlines()
    failed = 0
    assert len(texts) == len(outs), (len(texts), len(outs))
    for i, (text, want) in enumerate(zip(texts, outs)):
        r = subprocess.run([ctl, "tokenize", "--model", vocab], input=text, capture_output=True)
        got = r.stdout.decode().strip()
        if r.returncode != 0 or got != want.strip():
            print("test %d %r: rc %d\n  want %s\n  got  %s" % (i, text, r.returncode, want.strip(), got))
            failed += 1
            continue
        # --decode prints control-token texts: BOS text + the text made valid
        d = subprocess.run([ctl, "tokenize", "--model", vocab, "--decode"], input=r.stdout,
                           capture_output=True)
        want_text = b"<|startoftext|>" + text.decode("utf-8", errors="replace").encode()
        if d.returncode != 0 or d.stdout != want_text:
            print("test %d: decode gave %r" % (i, d.stdout))
            failed += 1
    # flags: no BOS, control texts as plain text, bad ids, usage
    r = subprocess.run([ctl, "tokenize", "--model", vocab, "--no-bos"], input=b"<|im_end|>",
                       capture_output=True)
    if r.stdout.split() != [b"7"]:
        print("--no-bos: %r" % r.stdout)
        failed += 1
    r = subprocess.run([ctl, "tokenize", "--model", vocab, "--no-bos", "--no-special"],
                       input=b"<|im_end|>", capture_output=True)
    if b"7" in r.stdout.split() or not r.stdout.split():
        print("--no-special: %r" % r.stdout)
        failed += 1
    r = subprocess.run([ctl, "tokenize", "--model", vocab, "--decode", "--no-special"],
                       input=b"1 6 7", capture_output=True)
    if r.returncode != 0 or r.stdout != b"":
        print("--decode --no-special: %r" % r.stdout)
        failed += 1
    for bad in (b"1 99999999", b"1 -2", b"1 x"):
        r = subprocess.run([ctl, "tokenize", "--model", vocab, "--decode"], input=bad, capture_output=True)
        if r.returncode != 1 or not r.stderr:
            print("bad ids %r: rc %d" % (bad, r.returncode))
            failed += 1
    if subprocess.run([ctl, "tokenize"], capture_output=True).returncode != 2:
        print("no --model: not a usage error")
        failed += 1
    print("%d texts, %d failures" % (len(texts), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
