"""The package installs from source or from a wheel on every Python it supports, with only numpy
and protobuf, and converts there byte-for-byte as in the test venv. The interpreters span the
supported range and the dependency versions span theirs: Python 3.9 with numpy 1.x and the oldest
protobuf we accept (3.20, where message classes come from MessageFactory), and the current
interpreter and Python 3.13 with numpy 2.x and the newest protobuf. (The test venv itself pins
numpy 1.23.5 for MXNet.)"""

import glob
import os
import sys
import textwrap

import pytest

import mxnet2caffe

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
