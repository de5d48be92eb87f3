"""Builds the native Caffe layers (caffe_layers/ of the repository) as a plugin library for one
Caffe, with CMake, and caches the result.

The sources ship inside the package (mxnet2caffe/native_src/, installed there by the top-level
CMakeLists.txt); run from a source checkout, they are read from the checkout. The library goes to
    <cache>/mxnet2caffe/layers-<Caffe home name>-<hash>/libmxnet2caffe_layers.so
where the hash covers the sources and the libcaffe.so it links, so an unchanged build is reused.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional, Union

from ..errors import CaffeHomeError, NativeLayerError, PluginBuildError
from ..runtimes.caffe_home import ENV_VAR, build_command, default_home, find_caffe_home

LIBRARY_NAME = "libmxnet2caffe_layers.so"
# what a Caffe home needs for building layers against it (caffe_layers/CMakeLists.txt checks the same)
HOME_FILES = ("include/caffe/layer.hpp", "include/caffe/proto/caffe.pb.h", "lib/libcaffe.so")
# the files of the build, in caffe_layers/ and cpp/ (a checkout may hold build trees there too)
_SOURCE_PATTERNS = ("*.hpp", "*.cpp", "CMakeLists.txt")
_OUTPUT_TAIL_LINES = 30
_FIRST_ERROR_LINES = 10

PathArg = Union[str, "os.PathLike[str]"]


def native_sources() -> Path:
    """The directory holding caffe_layers/ and cpp/: the installed copy, else the checkout."""
    package = Path(__file__).resolve().parent.parent
    candidates = (package / "native_src", package.parent.parent)
    for root in candidates:
        if (root / "caffe_layers" / "CMakeLists.txt").is_file() and (root / "cpp").is_dir():
            return root
    raise NativeLayerError(
        f"the Caffe layer sources are missing from {candidates[0]}; reinstall mxnet2caffe"
    )


def resolve_caffe_home(caffe_home: Optional[PathArg] = None) -> Path:
    """The given Caffe home, else the one verification uses; checked to have what a build needs."""
    home = Path(caffe_home) if caffe_home is not None else find_caffe_home()
    if home is None:
        raise CaffeHomeError(
            f"no Caffe to build the layers against: {default_home()} holds no build; build it with: "
            f"{build_command()}  (or set {ENV_VAR} to a Caffe home)"
        )
    missing = [name for name in HOME_FILES if not (home / name).is_file()]
    if missing:
        raise CaffeHomeError(
            f"{home} is not a Caffe home to build layers against: it lacks {', '.join(missing)} "
            "(it needs include/caffe/ with the generated proto/caffe.pb.h and a shared lib/libcaffe.so)"
        )
    return home.resolve()


def caffe_is_cpu_only(home: Path) -> bool:
    """What the Caffe was built with; the reference build's BUILD_STAMP records it, and
    without a stamp CPU_ONLY is assumed, as the reference build is."""
    stamp = home / "BUILD_STAMP"
    if not stamp.is_file():
        return True
    for line in stamp.read_text().splitlines():
        if line.startswith("cxxflags="):
            return any(flag.split("=")[0] == "-DCPU_ONLY" for flag in line.split())
    return True


def _source_files(sources: Path) -> List[Path]:
    return sorted(
        path
        for folder in ("caffe_layers", "cpp")
        for pattern in _SOURCE_PATTERNS
        for path in (sources / folder).glob(pattern)
        if path.is_file()
    )


def _fingerprint(sources: Path, home: Path, cpu_only: bool) -> str:
    digest = hashlib.sha256()
    for path in _source_files(sources):
        digest.update(f"{path.relative_to(sources)}\0".encode() + path.read_bytes() + b"\0")
    library = (home / "lib" / "libcaffe.so").stat()  # a rebuilt Caffe may change its ABI
    digest.update(f"{home}\0{library.st_size}\0{library.st_mtime_ns}\0cpu_only={cpu_only}".encode())
    return digest.hexdigest()[:16]


def cache_root() -> Path:
    """Where the reference Caffe is cached too: ${XDG_CACHE_HOME:-~/.cache}/mxnet2caffe."""
    return default_home().parent


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One build at a time across processes; a waiting one then finds the finished library."""
    import fcntl  # POSIX only, like the plugin; OpenCV's layers (opencv.py) work everywhere

    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _summary(output: str) -> str:
    """The first error lines (the cause, where a compiler reports it) and the last lines."""
    lines = output.splitlines()
    tail = lines[-_OUTPUT_TAIL_LINES:]
    errors = [line for line in lines[: -len(tail)] if "error" in line.lower()][:_FIRST_ERROR_LINES]
    first = "first errors:\n" + "\n".join(errors) + "\n...\n" if errors else ""
    return first + "last lines of its output:\n" + "\n".join(tail)


def _run(command: List[str], what: str) -> None:
    try:
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as exc:
        raise PluginBuildError(f"{what}: cannot run {command[0]} ({exc})") from None
    if result.returncode != 0:
        raise PluginBuildError(
            f"{what} failed ({' '.join(command)} exited with {result.returncode}); {_summary(result.stdout)}"
        )


def _cmake() -> str:
    cmake = shutil.which("cmake")
    if cmake is None:
        raise PluginBuildError(
            "building the Caffe layers needs CMake >= 3.18 and a C++ compiler: "
            "pip install cmake, or apt-get install cmake g++"
        )
    return cmake


def _compile(sources: Path, home: Path, cpu_only: bool, work: Path) -> Path:
    cmake = _cmake()
    build = work / "build"
    _run(
        [cmake, "-S", str(sources / "caffe_layers"), "-B", str(build), f"-DCAFFE_HOME={home}",
         f"-DCPU_ONLY={'ON' if cpu_only else 'OFF'}", "-DCMAKE_BUILD_TYPE=Release"],
        f"configuring the Caffe layers against {home}",
    )
    _run([cmake, "--build", str(build), "-j", str(os.cpu_count() or 1)], f"compiling the Caffe layers against {home}")
    return build / LIBRARY_NAME


def build_plugin(caffe_home: Optional[PathArg] = None, force: bool = False) -> Path:
    """libmxnet2caffe_layers.so built against `caffe_home` (default: the Caffe that verification
    uses), from the cache when the sources and that Caffe are unchanged; `force` rebuilds."""
    home = resolve_caffe_home(caffe_home)
    sources = native_sources()
    cpu_only = caffe_is_cpu_only(home)
    root = cache_root()
    target = root / f"layers-{home.name}-{_fingerprint(sources, home, cpu_only)}"
    library = target / LIBRARY_NAME
    if library.is_file() and not force:
        return library
    try:
        root.mkdir(parents=True, exist_ok=True)
        with _locked(root / ".build-layers.lock"):
            if library.is_file() and not force:
                return library
            with tempfile.TemporaryDirectory(prefix=".layers-build-", dir=root) as temp:
                _build_into(target, sources, home, cpu_only, Path(temp))
    except OSError as exc:
        raise PluginBuildError(f"cannot write the Caffe layers to {root}: {exc}") from None
    return library


def _build_into(target: Path, sources: Path, home: Path, cpu_only: bool, work: Path) -> None:
    """Builds in `work`, then swaps the finished directory in, so `target` is never half-built."""
    staged = work / "staged"
    staged.mkdir()
    shutil.copy2(_compile(sources, home, cpu_only, work), staged / LIBRARY_NAME)
    if target.exists():  # forced: the old tree goes away with `work`
        target.rename(work / "old")
    staged.rename(target)
