"""The package installs from source or from a wheel on every Python it supports, with only numpy
and protobuf, and converts there byte-for-byte as in the test venv. The interpreters span the
supported range and the dependency versions span theirs: Python 3.9 with numpy 1.x and the oldest
protobuf we accept (3.20, where message classes come from MessageFactory), and the current
interpreter and Python 3.13 with numpy 2.x and the newest protobuf. (The test venv itself pins
numpy 1.23.5 for MXNet.) The sdist holds everything a wheel needs. (scripts/check_wheel.sh checks the
manylinux wheel, installed where no compiler can run.)"""

import glob
import os
import sys
import tarfile
import textwrap
import zipfile

import pytest

import mxnet2caffe
from mxnet2caffe.caffe_layers import CAFFE_TREE_FILES

from harness import EXAMPLE, ROOT, run

ENVIRONMENTS = {
    "py39-numpy1-protobuf3.20": ("3.9", ["numpy<2", "protobuf==3.20.3"], "1."),
    "current-numpy2": (None, ["numpy>=2", "protobuf"], "2."),
    "py313-numpy2": ("3.13", ["numpy>=2", "protobuf"], "2."),
}


def find_python(version):
    """A real interpreter of that version (pyenv's shims only run the selected one)."""
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = sorted(glob.glob(f"{pyenv}/versions/{version}.*/bin/python{version}")) + [f"/usr/bin/python{version}"]
    return next((path for path in candidates if os.access(path, os.X_OK)), None)


def converted_here(directory):
    mxnet2caffe.convert(f"{EXAMPLE}-symbol.json", f"{EXAMPLE}-0000.params", {"data": (1, 1, 108, 108)}, directory / "model")
    return {suffix: (directory / f"model{suffix}").read_bytes() for suffix in (".prototxt", ".caffemodel")}


@pytest.mark.slow
@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_installs_and_converts_identically(tmp_path, name):
    version, requirements, numpy_major = ENVIRONMENTS[name]
    python_exe = find_python(version) if version else sys.executable
    if python_exe is None:  # the CI image has them (pyenv); plain Debian 12 has only 3.11
        # where the test must run (CI, the test command), a missing interpreter is a failure
        if os.environ.get("CI") or os.environ.get("MXNET2CAFFE_REQUIRE_RUNTIMES"):
            pytest.fail(f"no Python {version} on this machine (looked in pyenv's versions and /usr/bin)")
        pytest.skip(f"no Python {version} on this machine")
    run(python_exe, "-m", "venv", tmp_path / "env")
    python = tmp_path / "env" / "bin" / "python"
    if version is None:  # through a wheel, as a user without a compiler installs it
        run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", ROOT)
        package = next((tmp_path / "dist").glob("mxnet2caffe-*.whl"))
    else:
        package = ROOT
    run(python, "-m", "pip", "install", "-q", *requirements)
    run(python, "-m", "pip", "install", "-q", "--no-deps", package)
    code = textwrap.dedent(
        f"""
        import numpy, mxnet2caffe
        assert numpy.__version__.startswith({numpy_major!r}), numpy.__version__
        mxnet2caffe.convert({f"{EXAMPLE}-symbol.json"!r}, {f"{EXAMPLE}-0000.params"!r},
                            {{"data": (1, 1, 108, 108)}}, {str(tmp_path / "fresh" / "model")!r})
        """
    )
    run(python, "-c", code, cwd=tmp_path)
    for suffix, expected in converted_here(tmp_path / "here").items():
        assert (tmp_path / "fresh" / f"model{suffix}").read_bytes() == expected, suffix


def checkout_files(*folders):
    """The files under these folders of the checkout, as paths relative to it (no caches)."""
    return {
        path.relative_to(ROOT).as_posix()
        for folder in folders
        for path in (ROOT / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".so")
    }


@pytest.mark.slow
def test_sdist_ships_the_sources_and_builds_the_whole_package(tmp_path):
    """`python -m build --sdist` packs the C++ sources and the build files, and the wheel pip builds
    from that sdist holds every file of the package, the compiled module and the layer sources
    (mxnet2caffe/native_src/), as the wheel from the checkout does (tests/caffe_layers/test_wheel_sources.py)."""
    # from outside the checkout: its build/ folder would shadow the `build` package of `-m build`
    run(sys.executable, "-m", "build", "--sdist", "--outdir", tmp_path / "sdist", ROOT, cwd=tmp_path)
    sdist = next((tmp_path / "sdist").glob("mxnet2caffe-*.tar.gz"))
    with tarfile.open(sdist) as archive:
        packed = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    needed = checkout_files("cpp", "caffe_layers", "python/mxnet2caffe") | {"pyproject.toml", "CMakeLists.txt", "README.md"}
    assert needed <= packed, sorted(needed - packed)

    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", sdist)
    wheel = next((tmp_path / "dist").glob("mxnet2caffe-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    package = {name[len("python/"):] for name in checkout_files("python/mxnet2caffe")}
    layer_sources = {f"mxnet2caffe/native_src/{source}" for source in CAFFE_TREE_FILES}
    layer_sources.add("mxnet2caffe/native_src/caffe_layers/CMakeLists.txt")
    assert package | layer_sources <= names, sorted((package | layer_sources) - names)
    assert any(name.startswith("mxnet2caffe/_native.") and name.endswith(".so") for name in names), sorted(names)
