#!/usr/bin/env python3
"""The captiond daemon end to end, on lavapipe with the tiny random model.

usage: test-daemon.py CAPTIOND CAPTIONCTL MAKE_MODEL CASE
CASE: captions | subscribers | failure | config | hostile | drain | fair | prompts | scene

Frames are chosen so a caption is a pure function of the stream: each
source is forced to RGBA at the encoder's size (no scaling, no colour
conversion in the daemon), and the picture never changes (a solid colour,
a static test pattern, a still PNG file). With greedy sampling every caption
of a stream is then the same, and it must equal what `captionctl caption`
prints offline for a PNG of the same picture (written by GStreamer from the
same videotestsrc settings; PNG is lossless, and the alpha channel the
daemon's RGBA frames carry is not read by the encoder).

A skipped case exits 77 with the reason.
"""
import json
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

FAILS = []
W = H = 128          # small frames: quick to capture; scaled up to the default 64 image tokens
MAX_TOKENS = 8
PROMPT = "Describe this image in one short sentence."
TIMEOUT = 240        # seconds for the first captions: lavapipe compiles every pipeline first


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, flush=True)
    return cond


def skip(why):
    print("SKIP:", why)
    sys.exit(77)


def run(*cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def caps(extra=""):
    return f"video/x-raw,format=RGBA,width={W},height={H},framerate=10/1{extra}"


SOLID = "videotestsrc pattern=solid-color foreground-color=0xffc02040"
CHECKERS = "videotestsrc pattern=checkers-8"


def write_png(src, path):
    r = run("gst-launch-1.0", "-q", *(f"{src} num-buffers=1 ! {caps()} ! pngenc ! filesink "
                                      f"location={path}").split())
    return r.returncode == 0 and os.path.getsize(path) > 0


def config_text(tmp, streams, extra=""):
    out = [f"model:\n  path: {tmp}/lm.gguf\n  mmproj_path: {tmp}/mm.gguf\n",
           f"  max_new_tokens: {MAX_TOKENS}\n  sampling: greedy\n",
           f"prompt:\n  text: \"{PROMPT}\"\n",
           f"capture:\n  width: {W}\n  height: {H}\n",
           f"batching:\n  max_batch: 4\n  max_wait_ms: 20\n",
           f"socket:\n  path: {tmp}/c.sock\n", extra, "streams:\n"]
    for st in streams:
        name, source, interval = st[:3]
        out.append(f"  - name: {name}\n    source: {json.dumps(source)}\n"
                   f"    caption_interval_ms: {interval}\n")
        for key, value in (st[3] if len(st) > 3 else {}).items():
            out.append(f"    {key}: {json.dumps(value)}\n")
    return "".join(out)


class Daemon:
    def __init__(self, exe, tmp, cfg_text, watchdog_us=0):
        self.tmp = tmp
        self.cfg = os.path.join(tmp, "captiond.yaml")
        with open(self.cfg, "w") as f:
            f.write(cfg_text)
        self.notify_path = os.path.join(tmp, "notify")
        if os.path.exists(self.notify_path):
            os.unlink(self.notify_path)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.messages = []
        env = dict(os.environ, NOTIFY_SOCKET=self.notify_path)
        if watchdog_us:
            env["WATCHDOG_USEC"] = str(watchdog_us)
        self.log = open(os.path.join(tmp, "captiond.log"), "w+")
        self.proc = subprocess.Popen([exe, "--config", self.cfg], stdout=self.log, stderr=self.log, env=env)

    def notifications(self, timeout):
        r, _, _ = select.select([self.notify], [], [], timeout)
        if r:
            msg = self.notify.recv(4096).decode()
            self.messages.append((time.monotonic(), msg))
            return msg
        return None

    def wait_ready(self, sock_path):
        """Wait for READY=1; at that moment the socket must accept and greet."""
        end = time.monotonic() + TIMEOUT
        while time.monotonic() < end and self.proc.poll() is None:
            msg = self.notifications(0.5)
            if msg and "READY=1" in msg.split("\n"):
                c = Client(sock_path)
                v = c.line(5)
                c.close()
                return check(v and v.get("class") == "VERSION", "socket greets at READY=1")
        check(False, f"READY=1 within {TIMEOUT} s (exit {self.proc.poll()})")
        return False

    def stop(self, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            check(False, f"captiond ended within {timeout} s of SIGTERM")
        self.notify.close()
        self.log.seek(0)
        self.log_text = self.log.read()
        self.log.close()
        return rc

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0


class Client:
    def __init__(self, path, rcvbuf=0):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.connect(path)
        self.buf = b""
        self.eof = False

    def send(self, data):
        self.s.sendall(data)

    def line(self, timeout):
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0 or self.eof:
                return None
            r, _, _ = select.select([self.s], [], [], left)
            if r:
                d = self.s.recv(65536)
                if not d:
                    self.eof = True
                    return None
                self.buf += d
        ln, self.buf = self.buf.split(b"\n", 1)
        return json.loads(ln)

    def close(self):
        self.s.close()


def collapse(text):
    """Runs of U+FFFD as one: GLib and Python replace broken UTF-8 per sequence
    differently; the model's bytes are the same."""
    out = []
    for ch in text:
        if ch == "\ufffd" and out and out[-1] == "\ufffd":
            continue
        out.append(ch)
    return "".join(out)


def collect(client, want, timeout):
    """CAPTION lines until want(captions) is true; returns them."""
    got = []
    end = time.monotonic() + timeout
    while not want(got) and time.monotonic() < end:
        m = client.line(max(0.1, end - time.monotonic()))
        if m and m.get("class") == "CAPTION":
            got.append(m)
    return got


def per_stream(captions):
    d = {}
    for c in captions:
        d.setdefault(c["stream"], []).append(c)
    return d


def models(make_model, tmp):
    r = run(make_model, "--preset", "tiny", "--lm-type", "Q4_0", "--mmproj-type", "Q8_0",
            "--lm", f"{tmp}/lm.gguf", "--mmproj", f"{tmp}/mm.gguf")
    if r.returncode != 0:
        skip("make-model failed: " + r.stderr[-300:])


# ---- cases ---------------------------------------------------------------------

def case_captions(exe, ctl, tmp):
    pngs = {"solid": f"{tmp}/solid.png", "checkers": f"{tmp}/checkers.png", "still": f"{tmp}/still.png"}
    for name, src in (("solid", SOLID), ("checkers", CHECKERS), ("still", "videotestsrc pattern=smpte")):
        if not write_png(src, pngs[name]):
            skip("gst-launch-1.0 could not write a PNG")
    want = {}
    for name, png in pngs.items():
        r = run(ctl, "caption", "--model", f"{tmp}/lm.gguf", "--mmproj", f"{tmp}/mm.gguf", "--greedy",
                "--max-tokens", str(MAX_TOKENS), "--prompt", PROMPT, png, timeout=TIMEOUT)
        check(r.returncode == 0, f"captionctl caption {name}: {r.stderr[-300:]}")
        want[name] = collapse(r.stdout.rstrip("\n").replace("\r", " ").replace("\n", " "))
    streams = [("solid", f"{SOLID} ! {caps()}", 100), ("checkers", f"{CHECKERS} ! {caps()}", 100),
               ("still", pngs["still"], 100)]
    d = Daemon(exe, tmp, config_text(tmp, streams))
    sock = f"{tmp}/c.sock"
    if d.wait_ready(sock):
        c = Client(sock)
        check(c.line(5)["class"] == "VERSION", "VERSION first")
        got = per_stream(collect(c, lambda g: all(len(per_stream(g).get(n, [])) >= 2 for n in want),
                                 TIMEOUT * 2))
        for name in want:
            caps_ = got.get(name, [])
            if not check(len(caps_) >= 2, f"stream {name}: two captions (got {len(caps_)})"):
                continue
            for i, m in enumerate(caps_[:2]):
                check(collapse(m["text"].replace("\n", " ").replace("\r", " ")) == want[name],
                      f"stream {name} caption {i + 1}: {m['text']!r} == captionctl's {want[name]!r}")
                check(1 <= m["tokens"] <= MAX_TOKENS, f"{name}: tokens {m['tokens']} in 1..{MAX_TOKENS}")
                check(m["latency_ms"] > 0 and m["publish_time_us"] >= m["capture_time_us"],
                      f"{name}: latency and times ordered")
            check(caps_[1]["seq"] == caps_[0]["seq"] + 1 and caps_[0]["seq"] >= 1, f"{name}: seq counts up")
        c.send(b'{"class":"POLL"}\n')
        st = None
        for _ in range(50):
            m = c.line(5)
            if m and m.get("class") == "STATS":
                st = m
                break
        if check(st is not None, "STATS answers POLL"):
            names = [s["name"] for s in st.get("streams", [])]
            check(names == ["solid", "checkers", "still"], f"STATS lists the streams: {names}")
            for s in st.get("streams", []):
                check(s["captions"] >= 2 and "latency_p95_ms" in s and s["latency_p95_ms"] >= s["latency_p50_ms"],
                      f"STATS {s['name']}: captions and latency p50 <= p95")
            check(sum(st.get("batch_sizes", {}).values()) == st.get("batches"), "batch sizes add up")
        r = run(ctl, "status", "--socket", sock)
        check(r.returncode == 0 and "solid" in r.stdout and "latency p50" in r.stdout,
              f"captionctl status: {r.stdout}{r.stderr}")
        r = run(ctl, "watch", "--socket", sock, "--stream", "checkers", "--json", "--count", "1",
                "--timeout", str(TIMEOUT), timeout=TIMEOUT + 10)
        lines = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
        caps_ = [x for x in lines if x["class"] == "CAPTION"]
        check(r.returncode == 0 and len(caps_) == 1 and caps_[0]["stream"] == "checkers",
              f"captionctl watch --stream checkers --count 1: {r.stdout}{r.stderr}")
        c.close()
    check(d.stop() == 0, "exit 0 on SIGTERM")


def case_subscribers(exe, ctl, tmp):
    streams = [("a", f"{SOLID} ! {caps()}", 100), ("b", f"{CHECKERS} ! {caps()}", 100)]
    d = Daemon(exe, tmp, config_text(tmp, streams))
    sock = f"{tmp}/c.sock"
    if not d.wait_ready(sock):
        d.stop()
        return
    silent = [Client(sock, rcvbuf=4096) for _ in range(10)]      # never read
    readers = [Client(sock) for _ in range(40)]
    got = [[] for _ in readers]
    late = []
    stop = threading.Event()

    def read_all():
        while not stop.is_set():
            r, _, _ = select.select([c.s for c in readers], [], [], 0.2)
            for i, c in enumerate(readers):
                if c.s not in r:
                    continue
                d_ = c.s.recv(65536)
                if not d_:
                    c.eof = True
                    continue
                c.buf += d_
                while b"\n" in c.buf:
                    ln, c.buf = c.buf.split(b"\n", 1)
                    m = json.loads(ln)
                    if m["class"] in ("CAPTION", "DROPPED"):
                        got[i].append(m)
                        if m["class"] == "CAPTION":
                            delay = time.time() * 1e6 - m["publish_time_us"]
                            if delay > 2e6:
                                late.append(delay)
    t = threading.Thread(target=read_all)
    t.start()
    end = time.monotonic() + TIMEOUT * 2
    rss0 = None
    while time.monotonic() < end:
        time.sleep(0.5)
        n = len([m for m in got[0] if m["class"] == "CAPTION"])
        if n >= 1 and rss0 is None:
            rss0 = d.rss_kib()
        if n >= 8:
            break
    time.sleep(1.0)
    rss1 = d.rss_kib()
    stop.set()
    t.join()
    ref = [(m["stream"], m["seq"]) for m in got[0] if m["class"] == "CAPTION"]
    check(len(ref) >= 8, f"reader 0 got 8 captions (got {len(ref)})")
    check(all(m["class"] == "CAPTION" for g in got for m in g), "no reader saw a DROPPED notice")
    for s in ("a", "b"):
        seqs = [q for n, q in ref if n == s]
        check(seqs == list(range(seqs[0], seqs[0] + len(seqs))) if seqs else False, f"stream {s}: no gaps")
    # A caption published while the other readers were still being read may
    # be at the end for some and not yet for others: compare the common prefix.
    n = min(len(g) for g in got)
    check(n >= 7, f"every reader got at least 7 captions (least: {n})")
    check(all([(m["stream"], m["seq"]) for m in g[:n]] == ref[:n] for g in got), "every reader got the same captions")
    check(not late, f"every caption reached every reader within 2 s of its publish time ({len(late)} late)")
    if rss0:
        check(rss1 - rss0 < 64 * 1024, f"RSS grew {rss1 - rss0} KiB while 10 clients never read (< 64 MiB)")
    alive = Client(sock)
    check(alive.line(5)["class"] == "VERSION", "the daemon still accepts clients")
    alive.close()
    for c in silent + readers:
        c.close()
    check(d.stop() == 0, "exit 0 on SIGTERM")


def case_failure(exe, ctl, tmp):
    streams = [("good", f"{SOLID} ! {caps()}", 100), ("camera", "/dev/video9", 100),
               ("gone", f"{tmp}/no-such-file.mp4", 100),
               ("broken", "videotestsrc ! nosuchelement", 100),
               ("ends", f"videotestsrc num-buffers=3 ! {caps()}", 100)]
    d = Daemon(exe, tmp, config_text(tmp, streams))
    sock = f"{tmp}/c.sock"
    if d.wait_ready(sock):
        c = Client(sock)
        states = {}
        good = []
        end = time.monotonic() + TIMEOUT * 2
        while time.monotonic() < end and len(good) < 3:
            m = c.line(1)
            if not m:
                continue
            if m["class"] == "STREAM":
                states.setdefault(m["stream"], []).append(m["state"])
            if m["class"] == "CAPTION" and m["stream"] == "good":
                good.append(m)
        check(len(good) >= 3, f"the good stream keeps captioning ({len(good)} captions)")
        for s in ("camera", "gone"):
            check(any(x in ("reconnecting", "failed") for x in states.get(s, [])),
                  f"stream {s} reported as reconnecting/failed: {states.get(s)}")
        c.send(b'{"class":"POLL"}\n')
        st = None
        for _ in range(100):
            m = c.line(5)
            if m and m.get("class") == "STATS":
                st = m
                break
        if check(st is not None, "STATS"):
            by = {s["name"]: s for s in st["streams"]}
            check(by.get("broken", {}).get("state") == "failed", f"broken stream failed: {by.get('broken')}")
        c.close()
    rc = d.stop()
    check(rc == 0, "exit 0 on SIGTERM")
    check("stream broken" in d.log_text, "the broken pipeline is logged with its stream name")


BAD_CONFIGS = [
    # (text, line, column, key)
    ("batching:\n  max_batch: 0\n", 2, 14, "batching.max_batch"),
    ("model:\n  max_new_tokens: -3\n", 2, 19, "model.max_new_tokens"),
    ("capture:\n  width: 10\n", 2, 10, "capture.width"),
    ("streams:\n  - name: a\n", 2, 5, "streams[0].source"),
    ("socket:\n  mode: \"0999\"\n", 2, 9, "socket.mode"),
    ("log:\n  level: loud\n", 2, 10, "log.level"),
    ("streams:\n  - name: a\n    source: x\n    webvtt: \"\"\n", 4, 13, "streams[0].webvtt"),
    ("model: [\n", 2, 1, "yaml"),
]


def case_config(exe, ctl, tmp):
    for i, (text, line, col, key) in enumerate(BAD_CONFIGS):
        p = f"{tmp}/bad{i}.yaml"
        with open(p, "w") as f:
            f.write(text)
        r = run(exe, "--check-config", p)
        prefix = f"{p}:{line}:{col}: {key}: "
        check(r.returncode == 1 and r.stderr.startswith(prefix) and r.stderr.count("\n") == 1,
              f"--check-config {text!r}: exit 1 and one line starting {prefix!r}, got {r.returncode} {r.stderr!r}")
    r = run(exe, "--check-config", f"{tmp}/missing.yaml")
    check(r.returncode == 1 and r.stderr.startswith(f"{tmp}/missing.yaml: "), f"missing file: {r.stderr!r}")
    good = config_text(tmp, [("a", f"{SOLID} ! {caps()}", 100)])
    with open(f"{tmp}/good.yaml", "w") as f:
        f.write(good)
    r = run(exe, "--check-config", f"{tmp}/good.yaml")
    check(r.returncode == 0 and r.stderr == "", f"good file passes: {r.stderr!r}")

    # SIGHUP: a bad file keeps the old configuration; a good one adds a stream
    # without touching the others (a's seq goes on: it was not restarted).
    d = Daemon(exe, tmp, good)
    sock = f"{tmp}/c.sock"
    if d.wait_ready(sock):
        c = Client(sock)
        first = collect(c, lambda g: len(g) >= 1, TIMEOUT)
        check(len(first) == 1, "a captions before the reload")
        with open(d.cfg, "w") as f:
            f.write(good + "  - name: b\n    source: x\n    caption_interval_ms: 5\n")
        d.proc.send_signal(signal.SIGHUP)
        after_bad = collect(c, lambda g: len(g) >= 2, TIMEOUT)
        check(len(after_bad) == 2 and all(m["stream"] == "a" for m in after_bad), "a goes on after a bad reload")
        check(d.proc.poll() is None, "a bad reload does not stop the daemon")
        with open(d.cfg, "w") as f:
            f.write(config_text(tmp, [("a", f"{SOLID} ! {caps()}", 100), ("b", f"{CHECKERS} ! {caps()}", 100)]))
        d.proc.send_signal(signal.SIGHUP)
        got = per_stream(collect(c, lambda g: len(per_stream(g).get("b", [])) >= 1 and
                                 len(per_stream(g).get("a", [])) >= 1, TIMEOUT * 2))
        check(got.get("b") and got["b"][0]["seq"] == 1, "stream b added by SIGHUP captions from seq 1")
        a_seqs = [m["seq"] for m in first + after_bad + got.get("a", [])]
        check(a_seqs == list(range(1, len(a_seqs) + 1)), f"stream a not restarted by the reload: {a_seqs}")
        with open(d.cfg, "w") as f:
            f.write(config_text(tmp, [("b", f"{CHECKERS} ! {caps()}", 100)]))
        d.proc.send_signal(signal.SIGHUP)
        time.sleep(1)
        tail = collect(c, lambda g: len(per_stream(g).get("b", [])) >= 2, TIMEOUT)
        # A caption of a already in a batch at the reload is still published.
        check(len([m for m in tail if m["stream"] == "a"]) <= 1, "stream a removed by SIGHUP")
        c.close()
    check(d.stop() == 0, "exit 0 on SIGTERM")
    check("reload rejected" in d.log_text and "streams[1].caption_interval_ms" in d.log_text,
          "the rejected reload is logged with its error")


def case_hostile(exe, ctl, tmp):
    d = Daemon(exe, tmp, config_text(tmp, [("a", f"{SOLID} ! {caps()}", 100)]))
    sock = f"{tmp}/c.sock"
    if d.wait_ready(sock):
        watcher = Client(sock)
        first = collect(watcher, lambda g: len(g) >= 1, TIMEOUT)
        attacks = [b"\x00\xff\xfe garbage \x80\x81\n", b"{" * 5000 + b"\n", b"x" * (4 << 20) + b"\n",
                   b'{"class":"WATCH","streams":[', b'{"class":"POLL"', b"\n" * 10000,
                   b'{"class":"WATCH","streams":["' + b"a" * 100 + b'"]}\n', b'{"class":"\xed\xa0\x80"}\n']
        for a in attacks:
            try:
                h = Client(sock)
                h.send(a)
                h.close()
            except OSError:
                pass
        many = []
        for _ in range(200):     # more than max_clients
            try:
                many.append(Client(sock))
            except OSError:
                break
        for m in many:
            m.close()
        for _ in range(50):      # connect and vanish
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sock)
            s.close()
        # The daemon sees the 250 closes when its main loop gets to them; until
        # then a new client may still be refused as one too many: retry.
        greeted = False
        end = time.monotonic() + 30
        while not greeted and time.monotonic() < end:
            c = Client(sock)
            m = c.line(10)
            greeted = bool(m and m["class"] == "VERSION")
            if not greeted:
                check(m and m.get("message") == "too many clients", f"refused only as too many clients: {m}")
                c.close()
                time.sleep(0.5)
        check(greeted, "a new client is greeted after the attacks")
        c.send(b'{"class":"POLL"}\n')
        m = c.line(10)
        check(m and m["class"] == "STATS", "POLL still answered")
        more = collect(watcher, lambda g: len(g) >= 1, TIMEOUT)
        check(first and more and more[-1]["seq"] > first[-1]["seq"], "captions still flow")
        c.close()
        watcher.close()
    check(d.proc.poll() is None, "the daemon survived")
    check(d.stop() == 0, "exit 0 on SIGTERM")


def case_drain(exe, ctl, tmp):
    d = Daemon(exe, tmp, config_text(tmp, [("a", f"{SOLID} ! {caps()}", 100),
                                           ("b", f"{CHECKERS} ! {caps()}", 100)]).replace(
        "max_wait_ms: 20", "max_wait_ms: 0"), watchdog_us=2_000_000)
    sock = f"{tmp}/c.sock"
    if d.wait_ready(sock):
        msgs = [m for _, m in d.messages]
        ready_at = next(i for i, m in enumerate(msgs) if "READY=1" in m.split("\n"))
        check(any("STATUS=loading model" in m for m in msgs[:ready_at]), f"STATUS before READY: {msgs[:ready_at]}")
        c = Client(sock)
        got = collect(c, lambda g: len(g) >= 1, TIMEOUT)
        check(len(got) == 1, "a first caption")
        # Frames are always due (100 ms) and ready: the next batch is running now.
        time.sleep(0.05)
        d.proc.send_signal(signal.SIGTERM)
        after = []
        while True:
            m = c.line(TIMEOUT)
            if m is None:
                break
            if m["class"] == "CAPTION":
                after.append(m)
        check(c.eof, "the daemon closes the socket when it exits")
        check(len(after) >= 1, "the batch in flight at SIGTERM was published before exit")
        c.close()
        end = time.monotonic() + 3
        while time.monotonic() < end:
            d.notifications(0.2)
        msgs = [m for _, m in d.messages]
        check(any("WATCHDOG=1" in m for m in msgs), "WATCHDOG=1 pings with WATCHDOG_USEC set")
        check(any("STOPPING=1" in m for m in msgs), "STOPPING=1 at SIGTERM")
    rc = d.stop()
    check(rc == 0, f"exit 0 after the drain (got {rc})")
    check(not os.path.exists(sock), "socket file removed at exit")


def case_fair(exe, ctl, tmp):
    """More due streams than max_batch: the longest overdue go first, so every
    stream is captioned although each is due again before a batch ends."""
    names = ["a", "b", "c"]
    d = Daemon(exe, tmp, config_text(tmp, [(n, f"{SOLID} ! {caps()}", 100) for n in names]).replace(
        "max_batch: 4", "max_batch: 1"))
    sock = f"{tmp}/c.sock"
    if d.wait_ready(sock):
        c = Client(sock)
        got = per_stream(collect(c, lambda g: len(g) >= 6, TIMEOUT * 2))
        counts = {n: len(got.get(n, [])) for n in names}
        check(min(counts.values()) >= 1 and max(counts.values()) - min(counts.values()) <= 1,
              f"six batches of one caption: every stream captioned, evenly: {counts}")
        c.close()
    check(d.stop() == 0, "exit 0 on SIGTERM")


def case_prompts(exe, ctl, tmp):
    """Per-stream prompts: two streams of one picture, each with its own
    prompt, run in one batch; each caption equals `captionctl caption
    --prompt` of that prompt."""
    png = f"{tmp}/solid.png"
    if not write_png(SOLID, png):
        skip("gst-launch-1.0 could not write a PNG")
    prompts = {"p1": "What colour is this?", "p2": "Is there a person in this picture? Answer briefly.",
               "p0": None}
    want = {}
    for name, prompt in prompts.items():
        r = run(ctl, "caption", "--model", f"{tmp}/lm.gguf", "--mmproj", f"{tmp}/mm.gguf", "--greedy",
                "--max-tokens", str(MAX_TOKENS), "--prompt", prompt or PROMPT, png, timeout=TIMEOUT)
        check(r.returncode == 0, f"captionctl caption --prompt {prompt!r}: {r.stderr[-300:]}")
        want[name] = collapse(r.stdout.rstrip("\n").replace("\r", " ").replace("\n", " "))
    print("offline:", want)
    check(len(set(want.values())) == 3, "the three prompts give three captions offline (else this proves nothing)")
    streams = [(n, f"{SOLID} ! {caps()}", 100, {"prompt": p} if p else {}) for n, p in prompts.items()]
    d = Daemon(exe, tmp, config_text(tmp, streams))
    sock = f"{tmp}/c.sock"
    if d.wait_ready(sock):
        c = Client(sock)
        got = per_stream(collect(c, lambda g: all(len(per_stream(g).get(n, [])) >= 2 for n in want),
                                 TIMEOUT * 2))
        for name in want:
            caps_ = got.get(name, [])
            if not check(len(caps_) >= 2, f"stream {name}: two captions (got {len(caps_)})"):
                continue
            for m in caps_[:2]:
                check(collapse(m["text"].replace("\n", " ").replace("\r", " ")) == want[name],
                      f"stream {name} (prompt {prompts[name]!r}): {m['text']!r} == captionctl's {want[name]!r}")
        c.close()
    check(d.stop() == 0, "exit 0 on SIGTERM")


def case_scene(exe, ctl, tmp):
    """The scene-change gate: a static pattern is captioned once and then
    skipped (counted in STATS); a changing one (snow) is captioned every
    time it is due; a static stream with the gate off (its own threshold 0 over the
    global one) is captioned every time too."""
    still = f"videotestsrc pattern=smpte ! {caps()}"
    # snow: every frame new; a scrolling pattern would repeat itself (smpte
    # scrolled by 8 px is the same picture every 16 frames).
    moving = f"videotestsrc pattern=snow ! {caps()}"
    streams = [("still", still, 200), ("moving", moving, 200), ("always", still, 200,
                                                                {"scene_change_threshold": 0})]
    d = Daemon(exe, tmp, config_text(tmp, streams).replace("  max_wait_ms: 20\n",
                                                           "  max_wait_ms: 20\n  scene_change_threshold: 0.02\n"))
    sock = f"{tmp}/c.sock"
    if d.wait_ready(sock):
        c = Client(sock)
        got = per_stream(collect(c, lambda g: all(len(per_stream(g).get(n, [])) >= 3 for n in ("moving", "always")),
                                 TIMEOUT * 2))
        counts = {n: len(got.get(n, [])) for n in ("still", "moving", "always")}
        check(counts["moving"] >= 3 and counts["always"] >= 3, f"moving and gate-off streams captioned: {counts}")
        check(counts["still"] == 1, f"the static stream is captioned once: {counts}")
        c.send(b'{"class":"POLL"}\n')
        st = None
        for _ in range(200):
            m = c.line(5)
            if m and m.get("class") == "STATS":
                st = m
                break
        if check(st is not None, "STATS answers POLL"):
            sk = {s["name"]: s.get("skipped_unchanged") for s in st.get("streams", [])}
            check(sk.get("still", 0) >= 2, f"STATS: the static stream's skips counted: {sk}")
            check(sk.get("moving") == 0 and sk.get("always") == 0, f"STATS: nothing else skipped: {sk}")
        c.close()
    check(d.stop() == 0, "exit 0 on SIGTERM")


def main():
    if len(sys.argv) != 5:
        print(__doc__)
        return 2
    exe, ctl, make_model, case = sys.argv[1:]
    for tool in ("gst-launch-1.0",):
        if run("sh", "-c", f"command -v {tool}").returncode != 0:
            skip(f"{tool} not installed")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    with tempfile.TemporaryDirectory(prefix="captiond-test-") as tmp:
        models(make_model, tmp)
        {"captions": case_captions, "subscribers": case_subscribers, "failure": case_failure,
         "config": case_config, "hostile": case_hostile, "drain": case_drain,
         "fair": case_fair, "prompts": case_prompts, "scene": case_scene}[case](exe, ctl, tmp)
        if FAILS:
            log = os.path.join(tmp, "captiond.log")
            if os.path.exists(log):
                print("---- captiond log (tail)\n" + open(log).read()[-4000:])
    print(f"{case}: {len(FAILS)} failure(s)")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
