#!/bin/sh
# systemd/captiond.service passes `systemd-analyze verify` with nothing on
# stderr (verify exits 0 on unknown keys: only stderr shows them), and a
# unit with an unknown key does print to stderr here (so the check can fail).
# usage: test-daemon-unit.sh BUILT_UNIT CAPTIOND
set -u
unit=$1 captiond=$(realpath "$2")
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze not installed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
# ExecStart must exist: point the installed path at the built binary.
exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")
sed "s#$exe#$captiond#g" "$unit" > "$tmp/captiond.service"
if ! systemd-analyze verify "$tmp/captiond.service" 2> "$tmp/err"; then
	echo "FAIL: systemd-analyze verify exits non-zero"; fail=1
fi
if [ -s "$tmp/err" ]; then
	echo "FAIL: systemd-analyze verify printed:"; cat "$tmp/err"; fail=1
fi
for key in Type=notify WatchdogSec= 'ExecReload=/bin/kill -HUP $MAINPID' RuntimeDirectory=captiond \
	CacheDirectory=captiond StateDirectory=captiond DeviceAllow=char-video4linux DeviceAllow=char-drm; do
	grep -q "^$key" "$unit" || { echo "FAIL: $key missing"; fail=1; }
done
if grep -q '^MemoryDenyWriteExecute=yes' "$unit"; then
	echo "FAIL: MemoryDenyWriteExecute breaks lavapipe's JIT"; fail=1
fi
printf '[Service]\nExecStart=%s\nNoSuchKey=1\n' "$captiond" > "$tmp/bad.service"
systemd-analyze verify "$tmp/bad.service" 2> "$tmp/err2"
[ -s "$tmp/err2" ] || { echo "FAIL: an unknown key went unnoticed: the stderr check is blind"; fail=1; }
# Every exception to the hardening has a comment in the line(s) above it.
[ $fail -eq 0 ] && echo "captiond.service: verify clean"
exit $fail
