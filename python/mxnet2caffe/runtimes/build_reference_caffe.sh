#!/usr/bin/env bash
# Builds a real BVLC Caffe (CPU only, with pycaffe) from the PyPI sdist brocolli-caffe==9.0.2
# for one Python interpreter, and caches it, so that tests and CI can run converted models in
# real Caffe. The sdist is BVLC Caffe (commit 9b891540) plus a few extra layer types.
#
#   mxnet2caffe build-caffe [--force] [PYTHON]     (runs this script)
#   bash build_reference_caffe.sh [--force] [PYTHON]
#
# PYTHON (or the env var PYTHON; default: python3 on PATH) is the interpreter that will
# `import caffe`: it needs numpy (the project pins 1.23.5) and protobuf. The result goes to
#   ${XDG_CACHE_HOME:-$HOME/.cache}/mxnet2caffe/caffe-brocolli-9.0.2-pyXY
# (or $MXNET2CAFFE_CAFFE_HOME when set) with this layout:
#   python/caffe/     the pycaffe package (_caffe.so, proto/caffe_pb2.py): put python/ on sys.path
#   lib/libcaffe.so   shared libcaffe that _caffe.so links (RPATH $ORIGIN, no LD_LIBRARY_PATH)
#   include/caffe/    Caffe's headers with the generated caffe/proto/caffe.pb.h
#   BUILD_STAMP       what was built and how; compile flags for plugin libraries of layers
# A second run finds BUILD_STAMP and only checks that `import caffe` works (seconds); --force
# rebuilds. The build takes several minutes on 2 cores. As root it apt-get installs the Debian
# packages it lacks (none when all are there); otherwise it prints the command and stops.
# The last line printed is CAFFE_HOME=<dir>.
set -euo pipefail

SDIST_VERSION=9.0.2
SDIST_SHA256=c6410cc60bdd6db685d441b66be7df05410f8850ac88d6b75d48ef9b2315c08a

force=0
PY="${PYTHON:-python3}"
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    -*) echo "unknown option: $arg" >&2; exit 2 ;;
    *) PY="$arg" ;;
  esac
done

say() { echo "[build_reference_caffe] $*" >&2; }
die() { say "error: $*"; exit 1; }

PY_BIN="$(command -v "$PY" || true)"
[ -n "$PY_BIN" ] || die "no Python interpreter '$PY'"
PYTAG="$("$PY_BIN" -c 'import sys; print("py%d%d" % sys.version_info[:2])')"
PYVER="$("$PY_BIN" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/mxnet2caffe"
CAFFE_HOME="${MXNET2CAFFE_CAFFE_HOME:-$CACHE_ROOT/caffe-brocolli-$SDIST_VERSION-$PYTAG}"
STAMP="$CAFFE_HOME/BUILD_STAMP"

# ---- Python deps of pycaffe: numpy (also to build) and protobuf (caffe_pb2) ----------------
"$PY_BIN" -c 'import numpy' 2>/dev/null \
  || die "$PY_BIN cannot import numpy; run: $PY_BIN -m pip install 'numpy==1.23.5'"
"$PY_BIN" -c 'import google.protobuf' 2>/dev/null \
  || die "$PY_BIN cannot import google.protobuf; run: $PY_BIN -m pip install protobuf"

# ---- Debian packages (their runtime libraries are needed by a cached build too) ------------
need_pkgs=(libboost-system-dev libboost-thread-dev libboost-filesystem-dev libboost-python-dev
  libboost-regex-dev libgoogle-glog-dev libgflags-dev libprotobuf-dev protobuf-compiler
  libhdf5-dev libopenblas-dev)
missing=()
for pkg in "${need_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
command -v cmake >/dev/null || missing+=(cmake)
command -v make >/dev/null || missing+=(make)
command -v g++ >/dev/null || missing+=(g++)
PY_INCLUDE="$("$PY_BIN" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
if [ ! -f "$PY_INCLUDE/Python.h" ]; then
  case "$PY_INCLUDE" in
    /usr/include/*) missing+=("python$PYVER-dev") ;;
    *) die "$PY_INCLUDE/Python.h is missing: $PY_BIN has no development headers" ;;
  esac
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    die "missing Debian packages; run: sudo apt-get install --no-install-recommends ${missing[*]}"
  fi
fi

check_import() {  # the cached build works with this interpreter
  PYTHONPATH="$CAFFE_HOME/python${PYTHONPATH:+:$PYTHONPATH}" "$PY_BIN" -c '
import sys, caffe
assert caffe.__file__.startswith(sys.argv[1]), caffe.__file__
print("caffe", caffe.__version__, "with", len(caffe.layer_type_list()), "layer types")
' "$CAFFE_HOME/python" >&2
}

if [ "$force" = 0 ] && [ -f "$STAMP" ]; then
  say "cached build found: $CAFFE_HOME"
  check_import || die "cached Caffe at $CAFFE_HOME does not import with $PY_BIN; rebuild with: $0 --force $PY"
  echo "CAFFE_HOME=$CAFFE_HOME"
  exit 0
fi

# ---- build in a temp dir; only the finished tree is moved into the cache -------------------
mkdir -p "$(dirname "$CAFFE_HOME")"
exec 9>"$(dirname "$CAFFE_HOME")/.build-caffe.lock"
flock 9  # one build at a time; a waiting run then finds the stamp
if [ "$force" = 0 ] && [ -f "$STAMP" ]; then
  check_import && { echo "CAFFE_HOME=$CAFFE_HOME"; exit 0; }
fi
start=$(date +%s)
WORK="$(mktemp -d "${TMPDIR:-/tmp}/mxnet2caffe-caffe-build.XXXXXX")"
STAGE="$(mktemp -d "$(dirname "$CAFFE_HOME")/.staging.XXXXXX")"
trap 'rm -rf "$WORK" "$STAGE"' EXIT
say "building in $WORK (log: $WORK/build.log)"

PIP=("$PY_BIN" -m pip)  # any pip does for a download (Debian's python3 may lack one)
"${PIP[@]}" --version >/dev/null 2>&1 || PIP=(python3 -m pip)
"${PIP[@]}" download -q --no-deps --no-binary :all: "brocolli-caffe==$SDIST_VERSION" -d "$WORK" \
  2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
SDIST="$WORK/brocolli-caffe-$SDIST_VERSION.tar.gz"
echo "$SDIST_SHA256  $SDIST" | sha256sum -c --quiet - || die "$SDIST: unexpected sha256"
tar --no-same-owner -xzf "$SDIST" -C "$WORK"
SRC="$WORK/brocolli-caffe-$SDIST_VERSION"

# -- patches to the unpacked tree (never to this repo) --
# 0. The sdist ships protobuf code generated by some other protoc (include/caffe/proto/
#    caffe.pb.h, python/caffe/proto/caffe_pb2.py) and .pyc files: drop them; the build
#    generates both with Debian's protoc.
rm -rf "$SRC/include/caffe/proto/caffe.pb.h" "$SRC/python/caffe/proto/caffe_pb2.py" \
  "$SRC/python/caffe/__pycache__" "$SRC/python/brocolli_caffe.egg-info"
# 1. The sdist compiles all of Caffe into _caffe.so. Build a shared libcaffe.so instead, with
#    _caffe.so linking it, so that plugin libraries of custom layers can link the same Caffe
#    (one layer registry). This also links boost_python under Debian's name (boost_python311),
#    finds HDF5 where Debian keeps it (/usr/include/hdf5/serial) and leaves out the gtest target.
cat >"$SRC/src/caffe/CMakeLists.txt" <<'EOF'
# written by mxnet2caffe's scripts/build_reference_caffe.sh
file(GLOB proto_files proto/*.proto)
caffe_protobuf_generate_cpp_py(${proto_gen_folder} proto_srcs proto_hdrs proto_python ${proto_files})
add_library(proto STATIC ${proto_hdrs} ${proto_srcs} ${proto_python})
caffe_default_properties(proto)

caffe_pickup_caffe_sources(${PROJECT_SOURCE_DIR})
find_package(HDF5 REQUIRED COMPONENTS C HL)
add_library(caffe SHARED ${srcs})
target_include_directories(caffe PUBLIC ${Caffe_INCLUDE_DIR} ${HDF5_INCLUDE_DIRS})
target_link_libraries(caffe PRIVATE proto ${HDF5_HL_LIBRARIES} ${HDF5_LIBRARIES}
  -lglog -lgflags -lprotobuf -lboost_thread -lboost_system -lboost_filesystem -lboost_regex
  -lopenblas Threads::Threads)
caffe_default_properties(caffe)
# no build-tree RPATH: every library it needs is on the default search path
set_target_properties(caffe PROPERTIES BUILD_WITH_INSTALL_RPATH ON INSTALL_RPATH "")
file(WRITE ${PROJECT_BINARY_DIR}/hdf5_include_dirs.txt "${HDF5_INCLUDE_DIRS}")
EOF
cat >"$SRC/python/CMakeLists.txt" <<'EOF'
# written by mxnet2caffe's scripts/build_reference_caffe.sh
file(GLOB_RECURSE python_srcs ${PROJECT_SOURCE_DIR}/python/*.cpp)
add_library(pycaffe MODULE ${python_srcs})
target_include_directories(pycaffe PRIVATE ${PYTHON_INCLUDE_DIRS} ${NUMPY_INCLUDE_DIR})
target_link_libraries(pycaffe PRIVATE caffe -lboost_python${BOOST_PYTHON_SUFFIX}
  -lboost_thread -lboost_system -lglog -lgflags -lprotobuf)
set_target_properties(pycaffe PROPERTIES PREFIX "" OUTPUT_NAME "_caffe" SUFFIX ".so"
  BUILD_WITH_INSTALL_RPATH ON INSTALL_RPATH "\$ORIGIN/../../lib")
caffe_default_properties(pycaffe)
EOF
# 2. Use Debian's protoc, which matches the libprotobuf-dev headers, whatever is first on PATH.
grep -q '^set(PROTOBUF_PROTOC_EXECUTABLE protoc)$' "$SRC/cmake/ProtoBuf.cmake" || die "ProtoBuf.cmake changed"
sed -i 's|^set(PROTOBUF_PROTOC_EXECUTABLE protoc)$|set(PROTOBUF_PROTOC_EXECUTABLE /usr/bin/protoc)|' \
  "$SRC/cmake/ProtoBuf.cmake"
# 3. caffe/io.py imports scikit-image and scipy at `import caffe`, though only its image helpers
#    (load_image, resize_image) use them: make those imports optional.
grep -q '^import skimage.io$' "$SRC/python/caffe/io.py" || die "io.py changed"
sed -i -e 's|^import skimage.io$|try:  # optional (mxnet2caffe): only load_image and resize_image need these\n    import skimage.io\nexcept ImportError:\n    pass|' \
  -e 's|^from scipy.ndimage import zoom$|try:\n    from scipy.ndimage import zoom\nexcept ImportError:\n    pass|' \
  "$SRC/python/caffe/io.py"
# 4. pycaffe.py and net_spec.py use `six` for a few dict helpers: fall back to a built-in shim.
cat >"$SRC/python/caffe/_six.py" <<'EOF'
"""The part of `six` that pycaffe uses (added by mxnet2caffe's build_reference_caffe.sh)."""
string_types = (str,)
def iteritems(d): return iter(d.items())
def itervalues(d): return iter(d.values())
def iterkeys(d): return iter(d.keys())
next = next
EOF
for f in pycaffe.py net_spec.py; do
  grep -q '^import six$' "$SRC/python/caffe/$f" || die "$f changed"
  sed -i 's|^import six$|try:\n    import six\nexcept ImportError:  # mxnet2caffe: six is optional\n    from . import _six as six|' \
    "$SRC/python/caffe/$f"
done
grep -ho 'six\.[a-z_]*' "$SRC/python/caffe/"*.py | sort -u | while read -r use; do
  grep -q "^${use#six.}\b\|^def ${use#six.}(" "$SRC/python/caffe/_six.py" || die "the six shim lacks $use"
done

# 5. net.cpp includes caffe/test/test_caffe_main.hpp (and so gtest) but uses nothing from it.
grep -q '^#include "caffe/test/test_caffe_main.hpp"$' "$SRC/src/caffe/net.cpp" || die "net.cpp changed"
sed -i '/^#include "caffe\/test\/test_caffe_main.hpp"$/d' "$SRC/src/caffe/net.cpp"

NUMPY_INCLUDE="$("$PY_BIN" -c 'import numpy; print(numpy.get_include())')"
NUMPY_VERSION="$("$PY_BIN" -c 'import numpy; print(numpy.__version__)')"
BUILD="$WORK/build"
mkdir -p "$BUILD" "$WORK/no-conda"
say "configuring for $PY_BIN (Python $PYVER, numpy $NUMPY_VERSION)"
# ANACONDA_HOME points at an empty dir: the include paths come from the interpreter itself
cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCPU_ONLY=ON -DBUILD_python=ON \
  -DANACONDA_HOME="$WORK/no-conda" -DPYTHON_VERSION="python$PYVER" \
  -DPYTHON_INCLUDE_DIRS="$PY_INCLUDE" -DNUMPY_INCLUDE_DIR="$NUMPY_INCLUDE" \
  -DBOOST_PYTHON_SUFFIX="${PYVER/./}" >"$WORK/build.log" 2>&1 \
  || { tail -40 "$WORK/build.log" >&2; die "cmake configure failed"; }
say "compiling with $(nproc) jobs (several minutes)"
cmake --build "$BUILD" --target pycaffe -j"$(nproc)" >>"$WORK/build.log" 2>&1 \
  || { grep -B2 -A8 -m5 'error' "$WORK/build.log" >&2 || tail -40 "$WORK/build.log" >&2; die "build failed"; }

# ---- lay out the cache tree ---------------------------------------------------------------
chmod 755 "$STAGE"
mkdir -p "$STAGE/python/caffe/proto" "$STAGE/lib" "$STAGE/include"
(cd "$SRC/python/caffe" && tar -cf - --exclude=./test --exclude=__pycache__ --exclude='*.cpp' .) \
  | tar --no-same-owner -xf - -C "$STAGE/python/caffe"
cp "$BUILD/include/caffe/proto/caffe_pb2.py" "$STAGE/python/caffe/proto/"
touch "$STAGE/python/caffe/proto/__init__.py"
cp "$BUILD/lib/_caffe.so" "$STAGE/python/caffe/"
cp "$BUILD/lib/libcaffe.so" "$STAGE/lib/"
cp -r "$SRC/include/caffe" "$STAGE/include/"
rm -rf "$STAGE/include/caffe/test"
cp "$BUILD/include/caffe/proto/caffe.pb.h" "$STAGE/include/caffe/proto/"
cp "$SRC/src/caffe/proto/caffe.proto" "$STAGE/include/caffe/proto/"
cp "$SRC/LICENSE" "$STAGE/"
HDF5_INC="$(tr ';' '\n' <"$BUILD/hdf5_include_dirs.txt" | sed 's/^/ -I/' | tr -d '\n')"
cat >"$STAGE/BUILD_STAMP" <<EOF
# Caffe built by mxnet2caffe's scripts/build_reference_caffe.sh
sdist=brocolli-caffe==$SDIST_VERSION sha256=$SDIST_SHA256
built=$(date -u +%Y-%m-%dT%H:%M:%SZ)
python=$PY_BIN ($PYVER) numpy=$NUMPY_VERSION protoc=$(/usr/bin/protoc --version | cut -d' ' -f2)
# a plugin library of layers: compile with
cxxflags=-std=c++14 -fPIC -DCPU_ONLY=1 -I$CAFFE_HOME/include$HDF5_INC
# and link with
ldflags=-L$CAFFE_HOME/lib -Wl,-rpath,$CAFFE_HOME/lib -lcaffe -lglog -lgflags -lprotobuf -lboost_system
EOF

# check before moving into place; RPATHs are relative, so the tree can move
CAFFE_HOME_FINAL="$CAFFE_HOME"
CAFFE_HOME="$STAGE"; check_import || die "the fresh build does not import"
CAFFE_HOME="$CAFFE_HOME_FINAL"
rm -rf "$CAFFE_HOME"
mv -T "$STAGE" "$CAFFE_HOME"
say "built in $(( $(date +%s) - start ))s"
echo "CAFFE_HOME=$CAFFE_HOME"
