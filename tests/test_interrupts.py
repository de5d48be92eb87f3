"""Ctrl-C at any moment of the command line's life: one line and exit 130, or a finished conversion.

The command runs as users run it: the installed `mxnet2caffe` script, with Python's bytecode
cache on (a wheel install compiles it; this sandbox sets PYTHONDONTWRITEBYTECODE, which would
make every import compile its source). What runs before the package's first line (interpreter
start, site, the editable install's import hook) is Python's own: a signal there is reported by
Python, and such a report may name no file of the package except the line importing the guard.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from harness import EXAMPLE

SCRIPT = shutil.which("mxnet2caffe", path=os.path.dirname(sys.executable))
PACKAGE_DIR = os.path.join("python", "mxnet2caffe") + os.sep
GUARD_IMPORT = "from .interrupts import"  # cli.py's first statement
FRAME = re.compile(r'^\s*File "([^"]+)", line \d+')


def command(output):
    return [SCRIPT, "convert", f"{EXAMPLE}-symbol.json", f"{EXAMPLE}-0000.params",
            "--input-shape", "1,1,108,108", "-o", str(output)]


@pytest.fixture
def cached_bytecode_env(tmp_path):
    env = dict(os.environ, PYTHONPYCACHEPREFIX=str(tmp_path / "pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def frames_of_the_package(stderr):
    """The traceback frames in the package's files, other than the import of the guard itself."""
    lines = stderr.splitlines()
    return [
        (line, following) for line, following in zip(lines, lines[1:] + [""])
        if (frame := FRAME.match(line)) and PACKAGE_DIR in frame.group(1) and GUARD_IMPORT not in following
    ]


def test_import_of_the_package_loads_nothing_heavy():
    code = ("import sys, mxnet2caffe; "
            "print(sorted(m for m in ('numpy', 'google.protobuf', 'mxnet2caffe.convert', 'mxnet2caffe.verify') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_public_names_resolve_to_the_api_even_after_submodule_imports():
    # `convert` and `verify` are also submodule names: importing those must not rebind them
    code = ("import mxnet2caffe.verify.backends, mxnet2caffe.convert, mxnet2caffe.verify.report; "
            "from mxnet2caffe import convert, verify, ConvertOptions, ConversionError, VerifyReport; "
            "import mxnet2caffe; "
            "print(convert.__module__, verify.__module__, mxnet2caffe.convert is convert, "
            "mxnet2caffe.verify is verify, ConvertOptions.__name__, ConversionError.__name__, VerifyReport.__name__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["mxnet2caffe.convert", "mxnet2caffe.verify.report", "True", "True",
                                     "ConvertOptions", "ConversionError", "VerifyReport"]
    unknown = subprocess.run([sys.executable, "-c", "import mxnet2caffe; mxnet2caffe.nothing"],
                             capture_output=True, text=True)
    assert "AttributeError: module 'mxnet2caffe' has no attribute 'nothing'" in unknown.stderr


def test_sigint_anywhere_from_process_start_to_exit(tmp_path, cached_bytecode_env):
    outputs = tmp_path / "out"
    subprocess.run(command(outputs), capture_output=True, env=cached_bytecode_env, check=True)  # fills the cache
    start = time.monotonic()
    finished = subprocess.run(command(outputs), capture_output=True, text=True, env=cached_bytecode_env)
    duration = time.monotonic() - start
    assert finished.returncode == 0, finished.stderr
    expected = ((tmp_path / "out.prototxt").read_bytes(), (tmp_path / "out.caffemodel").read_bytes())

    outcomes = []
    steps = 60
    for step in range(steps + 1):
        for path in tmp_path.glob("out.*"):
            path.unlink()
        process = subprocess.Popen(command(outputs), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env=cached_bytecode_env)
        time.sleep(duration * 1.1 * step / steps)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        left = sorted(path.name for path in tmp_path.iterdir() if path.name != "pycache")
        assert not frames_of_the_package(stderr), stderr
        if process.returncode == 0:
            assert left == ["out.caffemodel", "out.prototxt"]
            assert ((tmp_path / "out.prototxt").read_bytes(), (tmp_path / "out.caffemodel").read_bytes()) == expected
            outcomes.append("finished")
        elif process.returncode == 128 + signal.SIGINT:
            assert stderr == "interrupted\n"
            # nothing, or (a signal held while the pair was installed) the whole new pair
            assert left in ([], ["out.caffemodel", "out.prototxt"]), f"an interrupted conversion left {left}"
            if left:
                assert ((tmp_path / "out.prototxt").read_bytes(), (tmp_path / "out.caffemodel").read_bytes()) == expected
            outcomes.append("interrupted")
        else:  # before the package's first line: Python's own report (or none, before its handler)
            assert process.returncode in (-signal.SIGINT, 1), (process.returncode, stderr)
            assert left == []
            outcomes.append("python")
    # most of the process's life is the package's: many signals must land in it (not half:
    # on a loaded machine runs vary in length around the one measured)
    assert outcomes.count("interrupted") >= steps // 4, outcomes
    assert "finished" in outcomes, outcomes


def test_main_called_in_process_gives_the_handlers_back(tmp_path):
    from mxnet2caffe.cli import main

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    assert main(["convert", f"{EXAMPLE}-symbol.json", f"{EXAMPLE}-0000.params", "--input-shape", "1,1,108,108",
                 "-o", str(tmp_path / "out")]) == 0
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
