#!/usr/bin/env bash
# CI step: the native module and the Caffe layer library built with AddressSanitizer +
# UndefinedBehaviorSanitizer (CMake option MXNET2CAFFE_SANITIZE, in CMakeLists.txt and
# caffe_layers/CMakeLists.txt), then the tests that drive them and the fuzz cases, run on those
# builds. Any sanitizer report aborts the process, so it fails the step. Needs .venv and the
# reference Caffe (scripts/run_tests.sh makes both) and leaves them untouched.
#
#   scripts/sanitize.sh                 # SANITIZE_FUZZ_CASES=N (default 10000 per reader) and
#                                       # SANITIZE_FUZZ_CORPUS="DIR ..." (saved cases to replay too)
#
# Everything lives under build/sanitize/ and is kept between runs (the build trees make a rebuild
# incremental): buildenv/ a venv with the build requirements; cmake/ the module's build tree, dist/
# its wheel, site/ that wheel unpacked; layers/ the layer library's build tree; venv/ a bare venv
# whose only packages are site/ and then .venv's site-packages (one .pth), so the sanitized
# mxnet2caffe shadows .venv's copy while pytest, numpy, MXNet, OpenCV and pycaffe's dependencies
# come from .venv. A venv rather than PYTHONPATH: an editable install's import hook takes
# precedence over PYTHONPATH, and a venv never runs the .pth files of the directories its .pth lists.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/build/sanitize
TEST_PYTHON=.venv/bin/python
FUZZ_CASES=${SANITIZE_FUZZ_CASES:-10000}
[ -x "$TEST_PYTHON" ] || { echo "sanitize.sh: no .venv; run scripts/run_tests.sh first" >&2; exit 1; }
SANITIZE_FLAGS=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)

# Tests of mxnet2caffe._native that need no Caffe: the kernels against numpy, the weight transforms
# bit for bit, the file writer (alone and writing models), the .params reader (its float conversion
# is native) and the passes that call the module.
MODULE_TESTS=(
  tests/test_native_transforms.py
  tests/test_native_file_writer.py
  tests/caffe/test_streaming_writer.py
  tests/caffe_layers/test_broadcast_kernel.py
  tests/caffe_layers/test_transpose_kernel.py
  tests/readers/test_params.py
  tests/readers/test_params_mmap.py
  tests/passes/test_insert_preprocessing.py
  tests/passes/test_fold_input_affine.py
)
# Tests that run the Caffe layers in pycaffe (here the sanitized library) and the native layers in
# OpenCV (through the sanitized module), alone and in converted models. Not test_plugin.py (it
# builds and loads the regular library) nor test_robustness.py (signals, file modes, CLI runs: the
# hostile inputs reach the native code in the fuzz cases below).
LAYER_TESTS=(
  tests/caffe_layers/test_caffe_layer.py
  tests/caffe_layers/test_transpose_layer.py
  tests/caffe_layers/test_opencv_layer.py
  tests/converters/test_elementwise.py
  tests/converters/test_elementwise_ops.py
  tests/converters/test_transpose.py
  tests/passes/test_fuse_batch_norm.py
)
PYTEST=(-q -p no:cacheprovider --disable-warnings)
start=$SECONDS

# 1. the sanitized module: a wheel, built in a kept venv with the build requirements (rather than
# pip's isolated build, whose new paths every run would recompile everything)
[ -x "$OUT/buildenv/bin/pip" ] || "$TEST_PYTHON" -m venv "$OUT/buildenv"
mapfile -t build_requires < <("$OUT/buildenv/bin/python" -c \
  'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))')
"$OUT/buildenv/bin/pip" install -q "${build_requires[@]}"
rm -rf "$OUT/dist" "$OUT/site"
"$OUT/buildenv/bin/pip" wheel -q --no-deps --no-build-isolation -w "$OUT/dist" \
  -C cmake.define.MXNET2CAFFE_SANITIZE=ON -C cmake.build-type=RelWithDebInfo -C build-dir="$OUT/cmake" .
"$TEST_PYTHON" -m pip install -q --no-deps --no-compile --target "$OUT/site" "$OUT"/dist/mxnet2caffe-*.whl
[ -x "$OUT/venv/bin/python" ] || "$TEST_PYTHON" -m venv --without-pip "$OUT/venv"
PYTHON=$OUT/venv/bin/python
test_packages=$("$TEST_PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
venv_packages=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
printf '%s\n' "$OUT/site" "$test_packages" >"$venv_packages/mxnet2caffe_sanitize.pth"
native=$(echo "$OUT"/site/mxnet2caffe/_native.*.so)

# 2. the sanitized layer library, against the reference Caffe
caffe_home=$("$TEST_PYTHON" -c 'from mxnet2caffe.caffe_layers.build import resolve_caffe_home; print(resolve_caffe_home())')
cmake -S caffe_layers -B "$OUT/layers" -DCAFFE_HOME="$caffe_home" -DMXNET2CAFFE_SANITIZE=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$OUT/layers.log"
cmake --build "$OUT/layers" -j "$(nproc)" >>"$OUT/layers.log"
layers=$OUT/layers/libmxnet2caffe_layers.so
grep -q libasan <<<"$(ldd "$layers")" || { echo "sanitize.sh: $layers does not link libasan" >&2; exit 1; }
build_seconds=$((SECONDS - start))

# 3. the runtime. CPython is not instrumented, so the ASan runtime must come first in the process:
# LD_PRELOAD, the very one the module links. libstdc++ too: ASan looks up the real __cxa_throw when
# it starts, and in a Python that loads libstdc++ only with its first C++ extension that lookup fails
# (the first C++ exception then dies in an ASan CHECK).
#   detect_leaks=0: CPython never frees its interned objects, module states and arenas at exit, so
#     LeakSanitizer would report thousands of allocations that are not ours.
#   allocator_may_return_null=1: an allocation too large gives MemoryError, as without ASan (tests
#     and fuzz cases ask for such allocations on purpose).
preload=$(ldd "$native" | awk '$1 ~ /^libasan\.so/ || $1 ~ /^libstdc\+\+\.so/ { print $3 }' | tr '\n' ' ')
[[ $preload == *libasan* ]] || { echo "sanitize.sh: $native does not link libasan" >&2; exit 1; }
export ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1:halt_on_error=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export MXNET_SUBGRAPH_BACKEND=NONE
sanitized() { LD_PRELOAD=$preload "$PYTHON" "$@"; }

# the tests must import this build, with both runtimes live ...
sanitized -c '
import sys
import mxnet2caffe._native as native
assert native.__file__ == sys.argv[1], native.__file__
maps = open("/proc/self/maps").read()
assert "libasan" in maps and "libubsan" in maps, "sanitizer runtimes not loaded"
' "$native"
# ... and a heap overflow and a signed overflow in code built with these flags must stop a process
cat >"$OUT/canary.cpp" <<'EOF'
extern "C" int heap_overflow(int n) { volatile int* p = new int[n]; p[n] = 1; int r = p[0]; delete[] p; return r; }
extern "C" int signed_overflow(int x) { return x + 1; }
EOF
g++ -shared -fPIC -O1 "${SANITIZE_FLAGS[@]}" "$OUT/canary.cpp" -o "$OUT/canary.so"
for canary in "heap_overflow(4):heap-buffer-overflow" "signed_overflow(2**31 - 1):signed integer overflow"; do
  if sanitized -c "import ctypes, sys; ctypes.CDLL(sys.argv[1]).${canary%%:*}" "$OUT/canary.so" 2>"$OUT/canary.log" \
      || ! grep -q "${canary#*:}" "$OUT/canary.log"; then
    echo "sanitize.sh: the sanitizers did not stop ${canary%%:*}:" >&2; cat "$OUT/canary.log" >&2; exit 1
  fi
done

passed() {  # N of pytest's "N passed" in a log
  grep -Eo '[0-9]+ passed' "$1" | tail -1 | cut -d' ' -f1
}
run_logged() {  # LOG COMMAND...: runs, shows the output, fails the script when the command fails
  local log=$1 status
  shift
  set +e
  "$@" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  set -e
  [ "$status" = 0 ] || { echo "sanitize.sh: failed under ASan+UBSan (exit $status): $*" >&2; exit 1; }
}

# 4. the module's tests
t=$SECONDS
run_logged "$OUT/module-tests.log" sanitized -m pytest "${PYTEST[@]}" "${MODULE_TESTS[@]}"
module_summary="$(passed "$OUT/module-tests.log") native-module tests passed under ASan+UBSan ($((SECONDS - t)) s)"

# 5. the layers' tests, in a pycaffe that has the sanitized library registered before they start.
# The C++ programs that run Layer<double> (tests/caffe_layers/run_*_double.cpp) link the regular
# library by its RUNPATH, which LD_LIBRARY_PATH overrides: they load the sanitized one (checked below).
t=$SECONDS
LD_LIBRARY_PATH="$OUT/layers${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" run_logged "$OUT/layer-tests.log" \
  sanitized scripts/sanitized_layers_pytest.py "$layers" "${PYTEST[@]}" --basetemp="$OUT/pytest-layers" "${LAYER_TESTS[@]}"
double_programs=0
while IFS= read -r program; do
  grep -qF "libmxnet2caffe_layers.so => $layers " <<<"$(LD_LIBRARY_PATH=$OUT/layers ldd "$program")" \
    || { echo "sanitize.sh: $program does not load $layers" >&2; exit 1; }
  double_programs=$((double_programs + 1))
done < <(find "$OUT/pytest-layers" -type f -name 'run_*_double')
[ "$double_programs" -ge 2 ] || { echo "sanitize.sh: the Layer<double> programs did not run" >&2; exit 1; }
layer_summary="$(passed "$OUT/layer-tests.log") Caffe-layer and end-to-end tests passed under ASan+UBSan, sanitized module and layer library, $double_programs Layer<double> programs among them ($((SECONDS - t)) s)"

# 6. the fuzz cases (scripts/fuzz.py; its workers inherit the sanitizers). Its address-space limit
# cannot work here (ASan reserves terabytes of it), so ASan bounds one allocation at the same 2 GiB
# and a process's resident memory at 4 GiB instead.
t=$SECONDS
rm -rf "$OUT/fuzz-failures"
fuzz_env=(env "ASAN_OPTIONS=$ASAN_OPTIONS:max_allocation_size_mb=2048:hard_rss_limit_mb=4096")
run_logged "$OUT/fuzz.log" "${fuzz_env[@]}" LD_PRELOAD="$preload" "$PYTHON" scripts/fuzz.py \
  --seed 0 --cases "$FUZZ_CASES" --memory 0 --failures "$OUT/fuzz-failures"
for corpus in ${SANITIZE_FUZZ_CORPUS:-}; do
  run_logged "$OUT/fuzz-corpus.log" "${fuzz_env[@]}" LD_PRELOAD="$preload" "$PYTHON" scripts/fuzz.py \
    --corpus "$corpus" --memory 0 --failures "$OUT/fuzz-failures"
  cat "$OUT/fuzz-corpus.log" >>"$OUT/fuzz.log"
done
fuzz_cases=$(awk '/ reader: [0-9]+ cases/ { n += $3 } END { print n + 0 }' "$OUT/fuzz.log")
fuzz_summary="$fuzz_cases fuzz cases ran clean under ASan+UBSan ($((SECONDS - t)) s)"

echo "sanitize: $module_summary"
echo "sanitize: $layer_summary"
echo "sanitize: $fuzz_summary"
echo "sanitize: builds ${build_seconds} s, total $((SECONDS - start)) s"
