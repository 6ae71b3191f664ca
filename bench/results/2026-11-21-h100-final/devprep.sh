#!/bin/sh
# Usage: /work/devprep.sh WORKTREE NAME
# Builds WORKTREE's release binaries (build/rel) and stages captionctl, make-model,
# bench-matmul and their non-libc libraries into /work/main/.device/NAME/ with env.sh.
# On the device:  run(command="sh .device/NAME/env.sh <your command>", carry=[".gl", ".device/NAME"], kind="nvidia-h100-x1")
# env.sh unpacks the Vulkan loader + validation layer, sets LD_LIBRARY_PATH, VK_DRIVER_FILES,
# PATH (so captionctl, make-model, bench-matmul are on it) and runs the rest of its arguments.
set -eu
WT=$1; NAME=$2
cd "$WT"
[ -f build/rel/build.ninja ] || meson setup build/rel --buildtype=release >/dev/null
ninja -j2 -C build/rel >/dev/null
D=/work/main/.device/$NAME
rm -rf "$D" && mkdir -p "$D/lib"
cp build/rel/daemon/captionctl build/rel/tests/tools/make-model build/rel/bench/bench-matmul "$D/"
[ -f build/rel/daemon/captiond ] && cp build/rel/daemon/captiond "$D/"
for l in $(ldd build/rel/daemon/captionctl build/rel/bench/bench-matmul | awk '$3 ~ /^\// {print $3}' | sort -u); do
	case $(basename $l) in libc.so*|libm.so*) ;; *) cp -L $l "$D/lib/" ;; esac
done
cat > "$D/env.sh" <<'EOS'
#!/bin/sh
# Device-side environment: Vulkan loader from .gl, our binaries on PATH.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
HERE=$(cd "$(dirname "$0")" && pwd)
export LD_LIBRARY_PATH=$HERE/lib PATH=$HERE:$PATH
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
exec "$@"
EOS
chmod +x "$D/env.sh"
du -sh "$D"
