"""`pip wheel .` gives a wheel that installs in a fresh venv, with only numpy and protobuf,
and converts there byte-for-byte as here. The fresh venv takes the newest numpy (2.x),
while the test venv pins numpy 1.x for MXNet: both majors are covered."""

import sys
import textwrap
import venv

import pytest

import mxnet2caffe
from harness import EXAMPLE, ROOT, run

@pytest.mark.slow
def test_wheel_installs_and_converts_in_a_fresh_venv(tmp_path):
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", ROOT)
    wheel = next((tmp_path / "dist").glob("mxnet2caffe-*.whl"))
    venv.create(tmp_path / "env", with_pip=True)
    python = tmp_path / "env" / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", wheel, "numpy>=2", "protobuf")
    code = textwrap.dedent(
        f"""
        import numpy, mxnet2caffe
        assert numpy.__version__.startswith("2."), numpy.__version__
        mxnet2caffe.convert({f"{EXAMPLE}-symbol.json"!r}, {f"{EXAMPLE}-0000.params"!r},
                            {{"data": (1, 1, 108, 108)}}, {str(tmp_path / "fresh" / "model")!r})
        """
    )
    run(python, "-c", code, cwd=tmp_path)
    mxnet2caffe.convert(f"{EXAMPLE}-symbol.json", f"{EXAMPLE}-0000.params", {"data": (1, 1, 108, 108)}, tmp_path / "here" / "model")
    for suffix in (".prototxt", ".caffemodel"):
        fresh = (tmp_path / "fresh" / f"model{suffix}").read_bytes()
        assert fresh == (tmp_path / "here" / f"model{suffix}").read_bytes(), suffix
