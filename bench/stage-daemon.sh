#!/bin/sh
# bench/stage-daemon.sh — stage the daemon benchmark for the GPU machine, which
# has neither GStreamer nor GLib: captiond, captionctl, make-model,
# bench/daemon.py, every shared library they and the GStreamer plugins they
# use link (found with ldd; glibc excepted, the machine has its own), and
# those plugins, into one folder with a run.sh that points GStreamer and the
# dynamic linker at it.
#
# usage: bench/stage-daemon.sh [DEST]     (default /work/main/.device/daemon2)
#   Builds this checkout's release binaries (build/rel) first.
# On the device (carry .gl and the folder; DEST relative to the tree):
#   sh .device/daemon2/run.sh [bench/daemon.py options]
#   (default: --streams 1,4,16,32,64 --modes on,off --startup cold,warm)
# Locally, to check the staging without the GPU (lavapipe, tiny model):
#   CAPTIOND_STAGE_LOCAL=1 sh DEST/run.sh --streams 1 --seconds 3
#
# Plugins: what the daemon's capture pipelines use for the benchmark's
# sources (pipeline/capture.h: SOURCE ! videoconvert ! videoscale ! caps !
# appsink): coreelements (capsfilter, queue, tee), videotestsrc,
# videoconvertscale (videoconvert and videoscale since GStreamer 1.22) and
# app (appsink). Add more with STAGE_PLUGINS="name ...".
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
D=${1:-/work/main/.device/daemon2}
cd "$ROOT"
[ -f build/rel/build.ninja ] || meson setup build/rel --buildtype=release >/dev/null
ninja -j2 -C build/rel >/dev/null
rm -rf "$D"
mkdir -p "$D/lib" "$D/gst"
cp build/rel/daemon/captiond build/rel/daemon/captionctl build/rel/tests/tools/make-model bench/daemon.py "$D/"

PLUGINS="coreelements videotestsrc videoconvertscale app ${STAGE_PLUGINS:-}"
plugdir=$(pkg-config --variable=pluginsdir gstreamer-1.0)
for p in $PLUGINS; do
	[ -f "$plugdir/libgst$p.so" ] || { echo "stage-daemon: no plugin $plugdir/libgst$p.so" >&2; exit 1; }
	cp -L "$plugdir/libgst$p.so" "$D/gst/"
done
# Libraries of the binaries and plugins, and of those libraries (ldd
# resolves the whole tree). glibc's own stay the machine's.
for l in $(ldd "$D/captiond" "$D/captionctl" "$D/make-model" "$D"/gst/*.so | awk '$3 ~ /^\// {print $3}' | sort -u); do
	case $(basename "$l") in
	libc.so* | libm.so* | libpthread.so* | libdl.so* | librt.so* | ld-linux*) ;;
	*) cp -L "$l" "$D/lib/" ;;
	esac
done

cat > "$D/run.sh" <<'EOS'
#!/bin/sh
# Device side of bench/stage-daemon.sh: the 450m models, then bench/daemon.py.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -z "${CAPTIOND_STAGE_LOCAL:-}" ]; then
	# The Vulkan loader, as the device notes say (only .gl goes to /).
	for f in .gl/*.deb; do dpkg -x "$f" /; done
	ldconfig
	export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
	nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true
fi
# GStreamer from the staged folder only; no plugin scanner process.
export LD_LIBRARY_PATH=$HERE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export GST_PLUGIN_SYSTEM_PATH=$HERE/gst GST_PLUGIN_PATH=$HERE/gst
export GST_REGISTRY=${TMPDIR:-/tmp}/captiond-bench-registry.bin GST_REGISTRY_FORK=no
export PATH=$HERE:$PATH
M=${CAPTIOND_BENCH_MODELS:-/tmp/captiond-bench-models}
PRESET=${CAPTIOND_BENCH_PRESET:-450m}
mkdir -p "$M"
[ -f "$M/lm-$PRESET.gguf" ] || make-model --preset "$PRESET" --lm-type Q4_0 --mmproj-type Q8_0 \
	--lm "$M/lm-$PRESET.gguf" --mmproj "$M/mm-$PRESET.gguf" >/dev/null
[ $# -gt 0 ] || set -- --streams 1,4,16,32,64 --modes on,off --startup cold,warm
exec python3 "$HERE/daemon.py" "$HERE/captiond" "$M/lm-$PRESET.gguf" "$M/mm-$PRESET.gguf" "$@"
EOS
chmod +x "$D/run.sh" "$D/daemon.py"
du -sh "$D"
