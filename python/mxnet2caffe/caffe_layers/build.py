"""Builds the native Caffe layers (caffe_layers/ of the repository), with the users' layers of any
extra folders, as a plugin library for one Caffe, with CMake, and caches the result; and the
kernels of such a folder alone (no Caffe), for the OpenCV custom layers to call.

The sources ship inside the package (mxnet2caffe/native_src/, installed there by the top-level
CMakeLists.txt); run from a source checkout, they are read from the checkout. The library goes to
    <cache>/mxnet2caffe/layers-<Caffe home name>-<hash>/libmxnet2caffe_layers.so
where the hash covers the sources (extra folders' too) and the libcaffe.so it links, so an unchanged
build is reused; a folder's kernels-only library goes to
    <cache>/mxnet2caffe/kernels-<folder name>-<hash>/libmxnet2caffe_user_kernels.so
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, Union

from ..errors import CaffeHomeError, NativeLayerError, PluginBuildError
from ..runtimes.caffe_home import ENV_VAR, build_command, default_home, find_caffe_home

LIBRARY_NAME = "libmxnet2caffe_layers.so"
KERNELS_LIBRARY_NAME = "libmxnet2caffe_user_kernels.so"
# what a Caffe home needs for building layers against it (caffe_layers/CMakeLists.txt checks the same)
HOME_FILES = ("include/caffe/layer.hpp", "include/caffe/proto/caffe.pb.h", "lib/libcaffe.so")
# the files of the build, in caffe_layers/ and cpp/ (a checkout may hold build trees there too)
_SOURCE_PATTERNS = ("*.hpp", "*.cpp", "CMakeLists.txt")
# the files of an extra folder of user layers (caffe_layers/CMakeLists.txt, EXTRA_LAYER_DIRS)
_EXTRA_PATTERNS = ("*.hpp", "*.h", "*.cpp")
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


def extra_layer_dir(folder: PathArg) -> Path:
    """A folder of user layers, checked to be one: a directory with a Caffe layer (*_layer.cpp)."""
    path = Path(folder).expanduser().resolve()
    if not path.is_dir():
        raise PluginBuildError(f"{folder}: no such folder of layer sources")
    if ";" in str(path):  # CMake's list separator (EXTRA_LAYER_DIRS)
        raise PluginBuildError(f"{folder}: CMake cannot take a folder whose path has a ';': move or link it")
    if not any(path.glob("*_layer.cpp")):
        raise PluginBuildError(
            f"{folder} has no *_layer.cpp: a folder of user layers holds Caffe layers (NAME_layer.hpp/.cpp) "
            "and their plain C++ kernels (other *.cpp); `mxnet2caffe new-layer NAME` writes one"
        )
    return path


def _extra_files(folder: Path) -> List[Path]:
    return sorted(path for pattern in _EXTRA_PATTERNS for path in folder.glob(pattern) if path.is_file())


def _digest_files(digest: hashlib._Hash, root: Path, files: Iterable[Path]) -> None:
    for path in files:
        digest.update(f"{path.relative_to(root)}\0".encode() + path.read_bytes() + b"\0")


def _digest_folder(digest: hashlib._Hash, folder: Path) -> None:
    """A folder of user layers: its path too, as CMake compiles the files where they are."""
    digest.update(f"extra {folder}\0".encode())
    _digest_files(digest, folder, _extra_files(folder))


def _fingerprint(sources: Path, home: Path, cpu_only: bool, extra: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    _digest_files(digest, sources, _source_files(sources))
    for folder in extra:
        _digest_folder(digest, folder)
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


def _cmake_build(source_dir: Path, definitions: Sequence[str], work: Path, what: str) -> Path:
    """Configures and builds the CMake project in `source_dir`; returns the build directory."""
    cmake = _cmake()
    build = work / "build"
    _run([cmake, "-S", str(source_dir), "-B", str(build), *definitions, "-DCMAKE_BUILD_TYPE=Release"],
         f"configuring {what}")
    _run([cmake, "--build", str(build), "-j", str(os.cpu_count() or 1)], f"compiling {what}")
    return build


def _layers_described(home: Path, extra: Sequence[Path]) -> str:
    with_extra = f" with {', '.join(map(str, extra))}" if extra else ""
    return f"the Caffe layers{with_extra} against {home}"


def build_plugin(
    caffe_home: Optional[PathArg] = None, force: bool = False, extra: Sequence[PathArg] = ()
) -> Path:
    """libmxnet2caffe_layers.so built against `caffe_home` (default: the Caffe that verification
    uses), from the cache when the sources and that Caffe are unchanged; `force` rebuilds.
    `extra` are folders of user layers (caffe_layers/CMakeLists.txt says what they hold, and
    `mxnet2caffe new-layer` writes one), built into the same library."""
    home = resolve_caffe_home(caffe_home)
    folders = sorted({extra_layer_dir(folder) for folder in extra})  # one key for any order or spelling
    sources = native_sources()
    cpu_only = caffe_is_cpu_only(home)
    definitions = [f"-DCAFFE_HOME={home}", f"-DCPU_ONLY={'ON' if cpu_only else 'OFF'}",
                   f"-DEXTRA_LAYER_DIRS={';'.join(map(str, folders))}"]
    what = _layers_described(home, folders)
    return _cached_build(
        cache_root() / f"layers-{home.name}-{_fingerprint(sources, home, cpu_only, folders)}",
        LIBRARY_NAME,
        lambda work: _cmake_build(sources / "caffe_layers", definitions, work, what) / LIBRARY_NAME,
        force,
    )


def build_kernels(folder: PathArg, force: bool = False) -> Path:
    """libmxnet2caffe_user_kernels.so: the plain C++ kernels of a folder of user layers (every
    *.cpp but the *_layer.cpp), built without Caffe (caffe_layers/user_kernels/), cached like
    build_plugin. The folder's OpenCV custom layers load it with ctypes."""
    path = extra_layer_dir(folder)
    project = native_sources() / "caffe_layers" / "user_kernels"
    digest = hashlib.sha256()
    _digest_files(digest, project, [project / "CMakeLists.txt"])
    _digest_folder(digest, path)
    what = f"the kernels of {path}"
    return _cached_build(
        cache_root() / f"kernels-{path.name}-{digest.hexdigest()[:16]}",
        KERNELS_LIBRARY_NAME,
        lambda work: _cmake_build(project, [f"-DKERNEL_DIR={path}"], work, what) / KERNELS_LIBRARY_NAME,
        force,
    )


def _cached_build(target: Path, name: str, compile_into: Callable[[Path], Path], force: bool) -> Path:
    """target/name, built by `compile_into(work dir)` unless cached; one build at a time."""
    library = target / name
    if library.is_file() and not force:
        return library
    root = target.parent
    try:
        root.mkdir(parents=True, exist_ok=True)
        with _locked(root / ".build-layers.lock"):
            if library.is_file() and not force:
                return library
            with tempfile.TemporaryDirectory(prefix=".layers-build-", dir=root) as temp:
                _build_into(target, name, compile_into, Path(temp))
    except OSError as exc:
        raise PluginBuildError(f"cannot write the Caffe layers to {root}: {exc}") from None
    return library


def _build_into(target: Path, name: str, compile_into: Callable[[Path], Path], work: Path) -> None:
    """Builds in `work`, then swaps the finished directory in, so `target` is never half-built."""
    staged = work / "staged"
    staged.mkdir()
    shutil.copy2(compile_into(work), staged / name)
    if target.exists():  # forced: the old tree goes away with `work`
        target.rename(work / "old")
    staged.rename(target)
