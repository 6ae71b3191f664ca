#!/usr/bin/env python3
"""bench/daemon.py — captiond under load: captions per second, frame-to-caption
latency p50/p95 and the daemon's CPU use, for N test-pattern streams that each
ask for a caption as often as the config allows (caption_interval_ms 100),
with batching on (max_batch 64) and off (max_batch 1). Prints one JSON object
per run. Speed is measured here, never asserted.

usage: bench/daemon.py CAPTIOND LM.gguf MMPROJ.gguf [--streams 1,4,16] [--size 512]
                       [--tokens 32] [--seconds 20] [--modes on,off] [--startup cold,warm]
                       [--sampling model|greedy]

Start-up (issue 5: the first caption no slower than 2x steady state): one
stream, the daemon started with an empty pipeline cache (cold: our
VkPipelineCache file in $CACHE_DIRECTORY and the driver's own shader cache
both empty) and again with both left by the cold run (warm). Reported: time
from exec to READY (socket up) and to the first caption, the first
caption's frame-to-caption latency, the steady-state p50 of the captions
after it (--startup-seconds) and their ratio.

Each load run reports the daemon's CPU use (user + system time over the
measured window, /proc/PID/stat) as daemon_cpu_cores (1.0 = one core busy),
split by thread (inference; capture = GStreamer's streaming threads, which
here include generating the test pattern; other)
and the batching it did (STATS: frames encoded per submit, sequences per
decode step).

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


class Lines:
    """Newline-delimited JSON from the caption socket, a poll at a time."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def poll(self, timeout):
        """The messages that arrived within timeout seconds ([] if none),
        or None once the daemon closed the socket."""
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return []
        d = self.sock.recv(1 << 20)
        if not d:
            return None
        self.buf += d
        *lines, self.buf = self.buf.split(b"\n")
        return [json.loads(ln) for ln in lines if ln]


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(parts[11]) + int(parts[12])) / tick


def cpu_threads(pid):
    """CPU seconds per thread group: the inference thread, GStreamer's
    streaming threads (capture: the test sources themselves), the rest (main
    loop, Vulkan driver threads)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {"inference": 0.0, "capture": 0.0, "other": 0.0}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                text = f.read()
        except OSError:
            continue
        comm = text[text.index("(") + 1:text.rindex(")")]
        parts = text.rsplit(")", 1)[1].split()
        t = (int(parts[11]) + int(parts[12])) / tick
        # GStreamer names its streaming threads "element:pad" (cut to 15
        # bytes: "videotestsrc0:s"); Mesa's cache thread is "NAME:disk$0".
        gst = ":" in comm and "$" not in comm
        key = "inference" if comm == "inference" else "capture" if gst else "other"
        out[key] += t
    return out


def config(args, sock, n, batching):
    cfg = [f"model:\n  path: {args.lm}\n  mmproj_path: {args.mmproj}\n  max_new_tokens: {args.tokens}\n"
           f"  sampling: {args.sampling}\n",
           f"capture:\n  width: {args.size}\n  height: {args.size}\n",
           f"batching:\n  max_batch: {64 if batching else 1}\n  max_wait_ms: 20\n",
           f"socket:\n  path: {sock}\n  queue_max_lines: 65536\n", "streams:\n"]
    for i in range(n):
        cfg.append(f"  - name: s{i}\n    source: \"videotestsrc pattern=smpte is-live=true ! "
                   f"video/x-raw,format=RGBA,width={args.size},height={args.size},framerate=15/1\"\n"
                   f"    caption_interval_ms: 100\n")
    return "".join(cfg)


def launch(args, tmp, name, cfg_text, env=None):
    path = f"{tmp}/{name}.yaml"
    with open(path, "w") as f:
        f.write(cfg_text)
    log = open(f"{tmp}/captiond-{name}.log", "w")
    p = subprocess.Popen([args.captiond, "--config", path], stdout=log, stderr=log,
                         env=dict(os.environ, **(env or {})))
    return p, log


def stop(p, log):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    log.close()


def log_tail(log):
    log.flush()
    with open(log.name) as f:
        return f.read()[-800:]


def startup(args, tmp, state):
    """First caption after start-up with a cold or warm pipeline cache."""
    sock = f"{tmp}/s.sock"
    cache, drv = f"{tmp}/cache", f"{tmp}/driver-cache"
    for d in (cache, drv):
        if state == "cold":
            subprocess.run(["rm", "-rf", d])
        os.makedirs(d, exist_ok=True)
    env = {"CACHE_DIRECTORY": cache, "MESA_SHADER_CACHE_DIR": drv, "__GL_SHADER_DISK_CACHE_PATH": drv,
           "__GL_SHADER_DISK_CACHE_SKIP_CLEANUP": "1"}
    t0 = time.monotonic()
    p, log = launch(args, tmp, f"startup-{state}", config(args, sock, 1, True), env)
    out = {"run": "startup", "cache": state, "size": args.size, "tokens_max": args.tokens, "sampling": args.sampling}
    try:
        while not os.path.exists(sock):
            if p.poll() is not None or time.monotonic() - t0 > 300:
                return dict(out, error="daemon did not start", log=log_tail(log))
            time.sleep(0.01)
        out["ready_s"] = round(time.monotonic() - t0, 3)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)
        rd, lat, first_t = Lines(s), [], None
        end = time.monotonic() + 300
        while time.monotonic() < end:
            if first_t is not None and time.monotonic() - first_t >= args.startup_seconds:
                break
            msgs = rd.poll(0.2)
            if msgs is None:
                break
            for m in msgs:
                if m.get("class") != "CAPTION":
                    continue
                if first_t is None:
                    first_t = time.monotonic()
                    out["first_caption_s"] = round(first_t - t0, 3)
                    out["first_latency_ms"] = m["latency_ms"]
                else:
                    lat.append(m["latency_ms"])
        s.close()
        steady = lat[3:] or lat  # the first few after the first may still queue behind it
        out["steady_captions"] = len(steady)
        out["steady_p50_ms"] = pct(steady, 50)
        if out.get("first_latency_ms") is not None and out["steady_p50_ms"]:
            out["first_over_steady"] = round(out["first_latency_ms"] / out["steady_p50_ms"], 2)
        if "first_caption_s" not in out:
            out["error"] = "no caption"
            out["log"] = log_tail(log)
        return out
    finally:
        stop(p, log)


def one(args, tmp, n, batching):
    sock = f"{tmp}/c.sock"
    t0 = time.monotonic()
    p, log = launch(args, tmp, f"{n}-{batching}", config(args, sock, n, batching))
    try:
        while not os.path.exists(sock):
            if p.poll() is not None or time.monotonic() - t0 > 300:
                return {"streams": n, "batching": batching, "error": "daemon did not start", "log": log_tail(log)}
            time.sleep(0.1)
        startup_s = time.monotonic() - t0
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)
        rd = Lines(s)
        seen = set()
        warm_end = time.monotonic() + 120
        phase = "warm"
        caps, lat, toks = 0, [], []
        t_meas = c0 = None
        while True:
            now = time.monotonic()
            if phase == "warm" and (len(seen) == n or now > warm_end):
                phase, t_meas, c0, th0 = "measure", now, cpu_s(p.pid), cpu_threads(p.pid)
            if phase == "measure" and now - t_meas >= args.seconds:
                break
            msgs = rd.poll(0.2)
            if msgs is None:
                break
            for m in msgs:
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
        th1 = cpu_threads(p.pid)
        s.sendall(b'{"class":"POLL"}\n')
        stats = {}
        end = time.monotonic() + 5
        while time.monotonic() < end and not stats:
            msgs = rd.poll(0.5)
            if msgs is None:
                break
            stats = next((m for m in msgs if m.get("class") == "STATS"), stats)
        sizes = {int(k): v for k, v in stats.get("batch_sizes", {}).items()}
        nb = sum(sizes.values())
        s.close()
        steps = stats.get("decode_steps", 0)
        return {"run": "load", "streams": n, "batching": batching, "size": args.size, "tokens_max": args.tokens,
                "sampling": args.sampling,
                "startup_s": round(startup_s, 2), "seconds": round(el, 2),
                "captions_per_s": round(caps / el, 3), "latency_p50_ms": pct(lat, 50),
                "latency_p95_ms": pct(lat, 95), "tokens_mean": round(sum(toks) / len(toks), 2) if toks else None,
                "batch_mean": round(sum(k * v for k, v in sizes.items()) / nb, 2) if nb else None,
                "decode_rows_mean": round(stats.get("decode_rows", 0) / steps, 2) if steps else None,
                "daemon_cpu_cores": round(cpu / el, 3),
                "cpu_cores_by_thread": {k: round((th1[k] - th0[k]) / el, 3) for k in th0},
                "frames_dropped": sum(x.get("frames_dropped", 0) for x in stats.get("streams", [])),
                "errors": stats.get("batch_errors")}
    finally:
        stop(p, log)


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
    ap.add_argument("--sampling", default="model", choices=["model", "greedy"],
                    help="model: T 0.1, min_p 0.15, penalty 1.05 on the host (the default config); "
                         "greedy: argmax on the GPU")
    ap.add_argument("--startup", default="cold,warm", help="cache states to time start-up with ('' for none)")
    ap.add_argument("--startup-seconds", type=float, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="captiond-bench-") as tmp:
        for state in [x for x in args.startup.split(",") if x]:
            print(json.dumps(startup(args, tmp, state)), flush=True)
        for mode in [m for m in args.modes.split(",") if m]:
            for n in [int(x) for x in args.streams.split(",")]:
                print(json.dumps(one(args, tmp, n, mode == "on")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
