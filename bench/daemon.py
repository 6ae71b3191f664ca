#!/usr/bin/env python3
"""bench/daemon.py — captiond under load: captions per second, frame-to-caption
latency p50/p95 and the daemon's CPU use, for N test-pattern streams that each
ask for a caption as often as the config allows (caption_interval_ms 100),
with batching on (max_batch 64) and off (max_batch 1). Prints one JSON object
per run. Speed is measured here, never asserted.

usage: bench/daemon.py CAPTIOND LM.gguf MMPROJ.gguf [--streams 1,4,16] [--size 512]
                       [--tokens 32] [--seconds 20] [--modes on,off]

Latency is the CAPTION line's latency_ms: from the moment the frame reached
the stream's slot to the moment the caption was handed to the socket.
Sources are `videotestsrc pattern=smpte is-live=true` at 15 fps, already RGBA
at the encoder's size, so the daemon's CPU is spent on capture plumbing,
batching, sampling and the socket, not on colour conversion.
"""
import argparse
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time


def pct(v, p):
    if not v:
        return None
    v = sorted(v)
    k = max(0, min(len(v) - 1, int(p / 100.0 * len(v) + 0.999999) - 1))
    return v[k]


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(parts[11]) + int(parts[12])) / tick


def one(args, tmp, n, batching):
    sock = f"{tmp}/c.sock"
    cfg = [f"model:\n  path: {args.lm}\n  mmproj_path: {args.mmproj}\n  max_new_tokens: {args.tokens}\n",
           f"capture:\n  width: {args.size}\n  height: {args.size}\n",
           f"batching:\n  max_batch: {64 if batching else 1}\n  max_wait_ms: 20\n",
           f"socket:\n  path: {sock}\n  queue_max_lines: 65536\n", "streams:\n"]
    for i in range(n):
        cfg.append(f"  - name: s{i}\n    source: \"videotestsrc pattern=smpte is-live=true ! "
                   f"video/x-raw,format=RGBA,width={args.size},height={args.size},framerate=15/1\"\n"
                   f"    caption_interval_ms: 100\n")
    path = f"{tmp}/bench.yaml"
    with open(path, "w") as f:
        f.write("".join(cfg))
    log = open(f"{tmp}/captiond-{n}-{batching}.log", "w")
    t0 = time.monotonic()
    p = subprocess.Popen([args.captiond, "--config", path], stdout=log, stderr=log)
    try:
        while not os.path.exists(sock):
            if p.poll() is not None or time.monotonic() - t0 > 300:
                log.flush()
                with open(log.name) as f:
                    tail = f.read()[-800:]
                return {"streams": n, "batching": batching, "error": "daemon did not start", "log": tail}
            time.sleep(0.1)
        startup_s = time.monotonic() - t0
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)
        buf = b""
        seen = set()
        warm_end = time.monotonic() + 120
        phase = "warm"
        caps, lat, toks = 0, [], []
        t_meas = c0 = None
        while True:
            now = time.monotonic()
            if phase == "warm" and (len(seen) == n or now > warm_end):
                phase, t_meas, c0 = "measure", now, cpu_s(p.pid)
            if phase == "measure" and now - t_meas >= args.seconds:
                break
            r, _, _ = select.select([s], [], [], 0.2)
            if not r:
                continue
            d = s.recv(1 << 20)
            if not d:
                break
            buf += d
            while b"\n" in buf:
                ln, buf = buf.split(b"\n", 1)
                m = json.loads(ln)
                if m.get("class") != "CAPTION":
                    continue
                if phase == "warm":
                    seen.add(m["stream"])
                else:
                    caps += 1
                    lat.append(m["latency_ms"])
                    toks.append(m["tokens"])
        el = time.monotonic() - t_meas
        cpu = cpu_s(p.pid) - c0
        s.sendall(b'{"class":"POLL"}\n')
        stats = {}
        end = time.monotonic() + 5
        while time.monotonic() < end:
            r, _, _ = select.select([s], [], [], 0.5)
            if r:
                buf += s.recv(1 << 20)
            while b"\n" in buf:
                ln, buf = buf.split(b"\n", 1)
                m = json.loads(ln)
                if m.get("class") == "STATS":
                    stats = m
            if stats:
                break
        sizes = {int(k): v for k, v in stats.get("batch_sizes", {}).items()}
        nb = sum(sizes.values())
        s.close()
        return {"streams": n, "batching": batching, "size": args.size, "tokens_max": args.tokens,
                "startup_s": round(startup_s, 2), "seconds": round(el, 2),
                "captions_per_s": round(caps / el, 3), "latency_p50_ms": pct(lat, 50),
                "latency_p95_ms": pct(lat, 95), "tokens_mean": round(sum(toks) / len(toks), 2) if toks else None,
                "batch_mean": round(sum(k * v for k, v in sizes.items()) / nb, 2) if nb else None,
                "daemon_cpu_percent": round(100 * cpu / el, 1),
                "frames_dropped": sum(x.get("frames_dropped", 0) for x in stats.get("streams", []))}
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("captiond")
    ap.add_argument("lm")
    ap.add_argument("mmproj")
    ap.add_argument("--streams", default="1,4,16,32,64")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--modes", default="on,off")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="captiond-bench-") as tmp:
        for mode in args.modes.split(","):
            for n in [int(x) for x in args.streams.split(",")]:
                print(json.dumps(one(args, tmp, n, mode == "on")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
