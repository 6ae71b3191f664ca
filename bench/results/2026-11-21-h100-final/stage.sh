#!/bin/sh
# Stage main's release build for the final device run: binaries (devprep) plus the
# gpu-suite test binaries, the tiny reference models and a test runner.
set -eu
/work/devprep.sh /work/main final
cd /work/main
D=.device/final
mkdir -p $D/broot/tests $D/broot/daemon
cp -r build/tests/reference-models $D/broot/tests/
rm -f $D/broot/tests/reference-models/*selftest* $D/bench-matmul $D/captiond
ln -s ../../captionctl $D/broot/daemon/captionctl   # one copy travels
mkdir -p $D/broot/tests/tools && ln -s ../../../make-model $D/broot/tests/tools/make-model
meson introspect --tests build/rel | /usr/bin/python3 -c "
import json,sys,shutil,os
for x in json.load(sys.stdin):
    if 'captiond:gpu' not in x['suite']: continue
    exe=x['cmd'][0]
    if not exe.startswith('/work/main/build/rel/'): continue
    rel=exe[len('/work/main/build/rel/'):]
    dst=os.path.join('$D/broot',rel)
    if not os.path.exists(dst): shutil.copy(exe,dst)
    print(x['name'], rel, *x['cmd'][1:])
" > $D/tests.txt
cat > $D/run-tests.sh <<'EOS'
#!/bin/sh
# Run the gpu suite on the device with the validation layer on; one line per test.
H=$(cd "$(dirname "$0")" && pwd)
export CAPTIOND_SOURCE_ROOT=$(pwd) CAPTIOND_BUILD_ROOT=$H/broot CAPTIOND_VK_VALIDATION=1
pass=0; fail=0
while read name exe args; do
	( cd $H/broot && timeout 120 ./$exe $args ) > /tmp/t.log 2>&1; rc=$?
	v=$(grep -ci "validation error" /tmp/t.log)
	{ echo "=== $name rc=$rc"; cat /tmp/t.log; } >> $OUT/tests-h100.log
	echo "$name rc=$rc validation_lines=$v"
	if [ $rc = 0 ] || [ $rc = 77 ]; then pass=$((pass+1)); else fail=$((fail+1)); fi
done < $H/tests.txt
echo "gpu suite on device: $pass passed, $fail failed"
EOS
chmod +x $D/run-tests.sh
cp /work/final-run.sh $D/run.sh
wc -l $D/tests.txt; du -sh $D
