#!/usr/bin/env python3
"""tests/test-fetch-model.py — scripts/fetch-model against a local HTTP server.

A server on 127.0.0.1 (an http.server subclass that also honours Range
requests, as Hugging Face does) serves a small file in several ways: whole,
corrupted, cut off half-way, short, and through the tree API. Every failure
must leave nothing in the model directory; a cut-off download must resume
from where it stopped.
"""
import hashlib
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading

FETCH = os.path.join(os.environ.get("CAPTIOND_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..")),
                     "scripts", "fetch-model")
REPO = "Test/Tiny-GGUF"
PAYLOAD = bytes((i * 131 + (i >> 7)) & 255 for i in range(300_000))
SHA = hashlib.sha256(PAYLOAD).hexdigest()

failures = 0
checks = 0


def check(cond, what):
    global failures, checks
    checks += 1
    if not cond:
        failures += 1
        print(f"CHECK failed: {what}", file=sys.stderr)


class Server(http.server.ThreadingHTTPServer):
    mode = "good"       # good | corrupt | cut | short
    ranges = []         # Range headers seen


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        srv = self.server
        if self.path == f"/api/models/{REPO}/tree/main":
            body = json.dumps([{"type": "file", "path": "lm.gguf", "size": 134,
                                "lfs": {"oid": SHA, "size": len(PAYLOAD)}}]).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if not self.path.startswith(f"/{REPO}/resolve/main/"):
            self.send_error(404)
            return
        data = PAYLOAD
        if srv.mode == "corrupt":
            data = bytearray(PAYLOAD)
            data[12345] ^= 0x40
            data = bytes(data)
        elif srv.mode == "short":
            data = PAYLOAD[:-1000]
        start = 0
        rng = self.headers.get("Range")
        if rng:
            srv.ranges.append(rng)
            start = int(rng.split("=")[1].split("-")[0])
        body = data[start:]
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(len(body)))
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if srv.mode == "cut":  # promise everything, send half, hang up
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


def run(base, tmp, manifest, *extra):
    cmd = [sys.executable, FETCH, "--model", "tiny", "--quant", "Q4_0", "--mmproj-quant", "Q8_0",
           "--dir", os.path.join(tmp, "models"), "--partial-dir", os.path.join(tmp, "partial"),
           "--manifest", manifest, "--base-url", base, "--quiet", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def write_manifest(tmp, size, sha):
    path = os.path.join(tmp, "manifest")
    with open(path, "w") as f:
        f.write(f"tiny lm Q4_0 {REPO} lm.gguf {size} {sha}\n")
        f.write(f"tiny mmproj Q8_0 {REPO} mmproj.gguf {len(PAYLOAD)} {SHA}\n")
    return path


def models(tmp):
    d = os.path.join(tmp, "models")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        # A good download: both files land, verified, nothing left behind.
        with tempfile.TemporaryDirectory() as tmp:
            r = run(base, tmp, write_manifest(tmp, len(PAYLOAD), SHA))
            check(r.returncode == 0, f"good download exits 0 ({r.returncode}: {r.stderr.strip()})")
            check(models(tmp) == ["lm.gguf", "mmproj.gguf"], f"both files installed: {models(tmp)}")
            with open(os.path.join(tmp, "models", "lm.gguf"), "rb") as f:
                check(f.read() == PAYLOAD, "installed bytes are the served bytes")
            check(os.listdir(os.path.join(tmp, "partial")) == [], "no partial file left")
            r = run(base, tmp, write_manifest(tmp, len(PAYLOAD), SHA))
            check(r.returncode == 0, "a second run finds the files verified")

        # A corrupted download is rejected and deleted.
        srv.mode = "corrupt"
        with tempfile.TemporaryDirectory() as tmp:
            r = run(base, tmp, write_manifest(tmp, len(PAYLOAD), SHA))
            check(r.returncode == 1, f"corrupted download exits 1 ({r.returncode})")
            check("sha256 mismatch" in r.stderr, f"says sha256 mismatch: {r.stderr.strip()}")
            check(models(tmp) == [], f"nothing in the model directory: {models(tmp)}")
            check(os.listdir(os.path.join(tmp, "partial")) == [], "the corrupted partial is deleted")

        # A short file (complete response, wrong size) is rejected.
        srv.mode = "short"
        with tempfile.TemporaryDirectory() as tmp:
            r = run(base, tmp, write_manifest(tmp, len(PAYLOAD), SHA))
            check(r.returncode == 1 and "truncated download" in r.stderr, f"short file rejected: {r.stderr.strip()}")
            check(models(tmp) == [], f"nothing in the model directory: {models(tmp)}")

        # A connection cut half-way is rejected, then resumed with a Range request.
        srv.mode = "cut"
        with tempfile.TemporaryDirectory() as tmp:
            manifest = write_manifest(tmp, len(PAYLOAD), SHA)
            r = run(base, tmp, manifest)
            check(r.returncode == 1, f"cut download exits 1 ({r.returncode})")
            check(models(tmp) == [], f"nothing in the model directory after a cut: {models(tmp)}")
            partial = os.path.join(tmp, "partial", "lm.gguf.part")
            have = os.path.getsize(partial) if os.path.exists(partial) else 0
            check(0 < have < len(PAYLOAD), f"a partial file is kept for resuming ({have} bytes)")
            srv.mode = "good"
            srv.ranges.clear()
            r = run(base, tmp, manifest)
            check(r.returncode == 0, f"resumed download exits 0 ({r.stderr.strip()})")
            check(f"bytes={have}-" in srv.ranges, f"resumed at byte {have}: {srv.ranges}")
            with open(os.path.join(tmp, "models", "lm.gguf"), "rb") as f:
                check(f.read() == PAYLOAD, "resumed file is whole and correct")

        # No checksum in the manifest: taken from the tree API.
        srv.mode = "good"
        with tempfile.TemporaryDirectory() as tmp:
            r = run(base, tmp, write_manifest(tmp, "-", "-"))
            check(r.returncode == 0, f"API metadata path exits 0 ({r.stderr.strip()})")
            check(models(tmp) == ["lm.gguf", "mmproj.gguf"], "installed via API metadata")

        # Unknown model and quantization are usage errors.
        with tempfile.TemporaryDirectory() as tmp:
            manifest = write_manifest(tmp, len(PAYLOAD), SHA)
            r = run(base, tmp, manifest, "--model", "nope")
            check(r.returncode == 2 and "unknown model" in r.stderr, f"unknown model: {r.stderr.strip()}")
            r = run(base, tmp, manifest, "--quant", "Q3_K")
            check(r.returncode == 2 and "available: Q4_0" in r.stderr, f"unknown quant: {r.stderr.strip()}")
    finally:
        srv.shutdown()

    print(f"{checks} checks, {failures} failed", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
