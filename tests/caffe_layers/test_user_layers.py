"""Users' own layer types: `mxnet2caffe new-layer` writes a skeleton, `build-layers --extra` builds it
into one library with ours, its generated tests pass (and fail when the layer is broken), a converted
model with the layer runs in Caffe, OpenCV and ONNX Runtime, and bad folders and names are clear errors.

Caffe loads one layer library per process, and this process has ours loaded (conftest's caffe
fixture): everything that loads a library with a user layer runs in a subprocess, with a cache
of its own (XDG_CACHE_HOME) and the reference Caffe (MXNET2CAFFE_CAFFE_HOME)."""

import json
import os
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from mxnet2caffe import ConversionError
from mxnet2caffe.caffe.native_layers import NATIVE_LAYER_TYPES
from mxnet2caffe.caffe_layers import (
    KERNELS_LIBRARY_NAME,
    LIBRARY_NAME,
    PluginBuildError,
    build_kernels,
    build_plugin,
)
from mxnet2caffe.caffe_layers.build import resolve_caffe_home
from mxnet2caffe.caffe_layers.new_layer import TEMPLATE_FILES, write_layer_skeleton
from mxnet2caffe.cli import main
from mxnet2caffe.runtimes.caffe_home import ENV_VAR

SKELETON_FILES = [
    "README.md", "my_scale_kernel.hpp", "my_scale_kernel.cpp", "my_scale_layer.hpp", "my_scale_layer.cpp",
    "my_scale_plugin.py", "test_my_scale.py",
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """XDG_CACHE_HOME of this module's builds, shared by its tests (a build takes seconds)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def isolated_cache(cache, monkeypatch) -> Path:
    monkeypatch.setenv(ENV_VAR, str(resolve_caffe_home()))  # found in the real cache, before it moves
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


@pytest.fixture(scope="module")
def skeleton(tmp_path_factory) -> Path:
    """`new-layer MyScale` as generated, shared by the tests that do not change it."""
    folder = tmp_path_factory.mktemp("user") / "my_scale"
    write_layer_skeleton("MyScale", folder)
    return folder


def environment(cache: Path) -> dict:
    return {**os.environ, "XDG_CACHE_HOME": str(cache), ENV_VAR: str(resolve_caffe_home())}


def run_python(cache: Path, code: str, *args: str, cwd=None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", textwrap.dedent(code), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=environment(cache), cwd=cwd)


def run_generated_tests(cache: Path, folder: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder)]
    return subprocess.run(command, capture_output=True, text=True, env=environment(cache), cwd=folder)


# --- new-layer ----------------------------------------------------------------------------------


def test_new_layer_writes_the_skeleton(tmp_path, capsys):
    folder = tmp_path / "my_scale"
    assert main(["new-layer", "MyScale", "--dir", str(folder)]) == 0
    assert sorted(path.name for path in folder.iterdir()) == sorted(SKELETON_FILES)
    assert capsys.readouterr().out.splitlines() == [f"wrote {folder / name}" for name in SKELETON_FILES]
    assert len(TEMPLATE_FILES) == len(SKELETON_FILES)
    layer = (folder / "my_scale_layer.cpp").read_text()
    assert "REGISTER_LAYER_CLASS(MyScale);" in layer and "my_scale_kernel::forward(" in layer
    assert 'LAYER_TYPE = "MyScale"' in (folder / "my_scale_plugin.py").read_text()
    for path in folder.iterdir():
        assert "@NAME@" not in path.read_text() and "@SNAKE@" not in path.read_text(), path
    compile((folder / "my_scale_plugin.py").read_text(), "my_scale_plugin.py", "exec")


def test_new_layer_defaults_to_a_folder_named_after_the_type(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mxnet2caffe", "new-layer", "MXSoftSign2"], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "mx_soft_sign2" / "mx_soft_sign2_layer.cpp").is_file()
    assert "REGISTER_LAYER_CLASS(MXSoftSign2);" in (tmp_path / "mx_soft_sign2" / "mx_soft_sign2_layer.cpp").read_text()


def test_new_layer_refuses_to_overwrite(tmp_path, capsys):
    folder = tmp_path / "my_scale"
    folder.mkdir()
    (folder / "my_scale_plugin.py").write_text("# mine\n")
    assert main(["new-layer", "MyScale", "--dir", str(folder)]) == 1
    assert f"not overwriting {folder / 'my_scale_plugin.py'}" in capsys.readouterr().err
    assert [path.name for path in folder.iterdir()] == ["my_scale_plugin.py"]  # nothing else written
    assert (folder / "my_scale_plugin.py").read_text() == "# mine\n"


def test_new_layer_needs_a_folder(tmp_path, capsys):
    (tmp_path / "taken").write_text("a file")
    assert main(["new-layer", "MyScale", "--dir", str(tmp_path / "taken")]) == 1
    assert f"error: {tmp_path / 'taken'} is not a folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    "name, message",
    [
        ("my_scale", "use CamelCase letters and digits"),
        ("2Scale", "use CamelCase letters and digits"),
        ("My-Scale", "use CamelCase letters and digits"),
        ("", "use CamelCase letters and digits"),
        ("A" * 65, "use CamelCase letters and digits"),
        ("Scale", "'Scale' is taken by a Caffe or mxnet2caffe layer"),
        ("MXBroadcastMul", "'MXBroadcastMul' is taken by a Caffe or mxnet2caffe layer"),
    ],
)
def test_new_layer_refuses_bad_names(tmp_path, capsys, name, message):
    assert main(["new-layer", name, "--dir", str(tmp_path / "out")]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --- build-layers --extra -----------------------------------------------------------------------


def test_build_layers_extra_builds_one_library_and_the_kernels(skeleton, isolated_cache, capsys):
    assert main(["build-layers", "--extra", str(skeleton)]) == 0
    library, kernels = map(Path, capsys.readouterr().out.split())
    assert library == build_plugin(extra=[skeleton]) and library.name == LIBRARY_NAME
    assert library.parent.parent == isolated_cache / "mxnet2caffe"
    assert library != build_plugin()  # the key covers the extra sources
    assert kernels == build_kernels(skeleton) and kernels.name == KERNELS_LIBRARY_NAME
    assert kernels.parent.name.startswith("kernels-my_scale-")


def test_the_library_has_ours_and_the_users_layers(skeleton, isolated_cache, tmp_path):
    """MXBroadcastMul then MyScale in one net, in a process that loads the --extra library."""
    library = build_plugin(extra=[skeleton])
    prototxt = tmp_path / "net.prototxt"
    prototxt.write_text(
        'force_backward: true\n'
        'layer { name: "a" type: "Input" top: "a" input_param { shape { dim: 2 dim: 3 dim: 4 dim: 5 } } }\n'
        'layer { name: "b" type: "Input" top: "b" input_param { shape { dim: 2 dim: 3 dim: 1 dim: 1 } } }\n'
        'layer { name: "m" type: "MXBroadcastMul" bottom: "a" bottom: "b" top: "m" }\n'
        'layer { name: "y" type: "MyScale" bottom: "m" top: "y" power_param { scale: 3 shift: 0.5 } }\n'
    )
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 3, 4, 5)).astype(np.float32), rng.normal(size=(2, 3, 1, 1)).astype(np.float32)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    result = run_python(
        isolated_cache,
        """
        import ctypes, os, sys, json
        import numpy as np
        from mxnet2caffe.runtimes.caffe_home import import_caffe
        caffe = import_caffe()
        ctypes.CDLL(sys.argv[1], mode=os.RTLD_GLOBAL)
        net = caffe.Net(sys.argv[2], caffe.TEST)
        y = net.forward(a=np.load(sys.argv[3] + "/a.npy"), b=np.load(sys.argv[3] + "/b.npy"))["y"]
        np.save(sys.argv[3] + "/y.npy", y)
        print(json.dumps(sorted(caffe.layer_type_list())))
        """,
        library, prototxt, tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    types = set(json.loads(result.stdout))
    assert NATIVE_LAYER_TYPES | {"MyScale"} <= types
    expected = a * b * np.float32(3) + np.float32(0.5)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-6, atol=1e-6)


def test_the_generated_tests_pass(skeleton, cache):
    result = run_generated_tests(cache, skeleton)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "8 passed" in result.stdout, result.stdout[-2000:]


@pytest.mark.parametrize(
    "file, old, new, failing",
    [
        # a wrong gradient in the kernel: Caffe's backward and the kernel's own gradient check see it
        ("my_scale_kernel.cpp", "dx[i] = dy[i] * scale;", "dx[i] = dy[i] * scale * T(1.01);",
         ["test_kernel_gradient_matches_finite_differences", "test_caffe_backward_matches_finite_differences"]),
        # the Caffe layer ignoring its shift: the Caffe forward test and verify against MXNet see it
        ("my_scale_layer.cpp", "shift_ = param.shift();", "shift_ = 0;",
         ["test_caffe_forward_matches_numpy", "test_a_model_with_the_op_converts_and_verifies_against_mxnet"]),
        # the OpenCV layer ignoring its shift
        ("my_scale_plugin.py", 'self.shift = float(params.get("shift", 0.0))', "self.shift = 0.0",
         ["test_opencv_forward_matches_numpy", "test_a_model_with_the_op_converts_and_verifies_against_mxnet"]),
        # the converter dropping the shift: only the model's verification against MXNet sees it
        ("my_scale_plugin.py", '"shift": shift}}', '"shift": 0.0}}',
         ["test_a_model_with_the_op_converts_and_verifies_against_mxnet"]),
    ],
)
def test_the_generated_tests_catch_a_broken_layer(tmp_path, cache, file, old, new, failing):
    folder = tmp_path / "my_scale"
    write_layer_skeleton("MyScale", folder)
    source = (folder / file).read_text()
    assert old in source
    (folder / file).write_text(source.replace(old, new))
    result = run_generated_tests(cache, folder)
    assert result.returncode == 1, result.stdout[-3000:]
    failed = sorted(line.split("::")[1].split()[0] for line in result.stdout.splitlines() if line.startswith("FAILED"))
    assert failed == sorted(failing), result.stdout[-3000:]


def test_a_compile_error_names_the_file_and_line(tmp_path, isolated_cache, capsys):
    folder = tmp_path / "my_scale"
    write_layer_skeleton("MyScale", folder)
    layer = folder / "my_scale_layer.cpp"
    layer.write_text(layer.read_text().replace("top[0]->ReshapeLike(*bottom[0]);", "top[0]->ReshapeLike(bottom);"))
    assert main(["build-layers", "--extra", str(folder)]) == 1
    message = capsys.readouterr().err
    assert message.startswith("error: compiling the Caffe layers with ")
    assert f"{layer}:20:22: error: cannot convert" in message  # the compiler's first error, with file and line
    assert not list((isolated_cache / "mxnet2caffe").glob(".layers-build-*"))  # no half-built leftovers


def layer_folder(path: Path) -> Path:
    """A folder that has a Caffe layer source (an empty one)."""
    path.mkdir()
    (path / "x_layer.cpp").write_text("")
    return path


def empty_folder(path: Path) -> Path:
    path.mkdir()
    return path


def a_file(path: Path) -> Path:
    path.write_text("a file")
    return path


@pytest.mark.parametrize(
    "make, name, message",
    [
        (Path, "missing", "no such folder of layer sources"),
        (empty_folder, "empty", "has no *_layer.cpp"),
        (a_file, "file", "no such folder of layer sources"),
        (layer_folder, "a;b", "CMake cannot take a folder whose path has a ';'"),
    ],
)
def test_a_bad_folder_is_a_clear_error(tmp_path, isolated_cache, capsys, make, name, message):
    folder = make(tmp_path / name)
    with pytest.raises(PluginBuildError, match="folder"):
        build_plugin(extra=[folder])
    assert main(["build-layers", "--extra", str(folder)]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"error: {folder}") and message in error


def test_the_cache_key_covers_the_folders_sources(tmp_path, isolated_cache):
    folder = tmp_path / "my_scale"
    write_layer_skeleton("MyScale", folder)
    library, kernels = build_plugin(extra=[folder]), build_kernels(folder)
    assert build_plugin(extra=[folder]) == library and build_kernels(folder) == kernels  # cached
    kernel = folder / "my_scale_kernel.cpp"
    kernel.write_text(kernel.read_text() + "// edited\n")
    assert build_plugin(extra=[folder]) != library and build_kernels(folder) != kernels


def test_kernels_without_sources_are_a_clear_error(tmp_path, isolated_cache):
    folder = tmp_path / "layers"
    folder.mkdir()
    (folder / "only_layer.cpp").write_text("// a layer without kernels\n")
    with pytest.raises(PluginBuildError, match=r"has no kernel sources \(\*.cpp other than \*_layer.cpp\)"):
        build_kernels(folder)


def test_a_layer_declared_after_loading_is_a_clear_error(skeleton, cache):
    result = run_python(
        cache,
        """
        import sys
        from mxnet2caffe.caffe_layers import NativeLayerError, load
        from mxnet2caffe.extend import UserLayer, register_layer
        first = load()
        register_layer(UserLayer(type="MyScale", sources=sys.argv[1]))
        try:
            load()
        except NativeLayerError as error:
            print(first, "|", error)
        """,
        skeleton,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    first, message = result.stdout.split(" | ")
    assert f"the layer library {first} is already loaded in this process without the user layers MyScale" in message
    assert "run in a fresh process" in message


def test_a_user_type_the_caffe_has_is_left_to_it_with_a_warning(skeleton, isolated_cache):
    """The reference Caffe has an Upsample layer (BVLC master has none): loading a second one would
    abort, so load() leaves it out and says that Caffe's own runs."""
    result = run_python(
        isolated_cache,
        """
        import logging, sys
        from mxnet2caffe.caffe_layers import load
        from mxnet2caffe.extend import UserLayer, register_layer
        logging.basicConfig()
        register_layer(UserLayer(type="Upsample", sources=sys.argv[1]))
        print(load())
        """,
        skeleton,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "layer type Upsample (from __main__) is already in the Caffe of " in result.stderr
    assert f"that one runs, not the sources in {skeleton}" in result.stderr
    assert result.stdout.strip() == str(build_plugin())  # ours alone: the folder was not built in


def symbol_with_my_scale(folder: Path) -> None:
    """An MXNet symbol data -> Custom op_type my_scale -> relu, as MXNet writes it (no MXNet needed
    here to convert), and empty params."""
    nodes = [
        {"op": "null", "name": "data", "inputs": []},
        {"op": "Custom", "name": "ms", "attrs": {"op_type": "my_scale", "scale": "1.5", "shift": "-0.25"},
         "inputs": [[0, 0, 0]]},
        {"op": "relu", "name": "act", "inputs": [[1, 0, 0]]},
    ]
    symbol = {"nodes": nodes, "arg_nodes": [0], "node_row_ptr": [0, 1, 2, 3], "heads": [[2, 0, 0]],
              "attrs": {"mxnet_version": ["int", 10901]}}
    (folder / "model-symbol.json").write_text(json.dumps(symbol))
    (folder / "model-0000.params").write_bytes(struct.pack("<QQQQ", 0x112, 0, 0, 0))  # no arrays


def test_a_converted_model_runs_in_every_runtime(skeleton, cache, tmp_path):
    """The plugin's converter, the layer in Caffe (the library with the folder), OpenCV (its custom
    layer) and ONNX Runtime (its ONNX form), through verify's backends, against numpy."""
    symbol_with_my_scale(tmp_path)
    x = np.random.default_rng(3).normal(size=(2, 3, 4, 5)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    result = run_python(
        cache,
        """
        import json, sys
        import numpy as np
        import mxnet2caffe
        from mxnet2caffe.verify.backends import BACKENDS
        folder, plugin = sys.argv[1], sys.argv[2]
        summary = mxnet2caffe.convert(folder + "/model-symbol.json", folder + "/model-0000.params",
                                      {"data": (2, 3, 4, 5)}, folder + "/out/model", plugins=[plugin])
        x = np.load(folder + "/x.npy")
        outputs = {}
        for backend in ("caffe", "opencv", "onnxruntime"):
            blobs = BACKENDS[backend](summary.prototxt, summary.caffemodel, {"data": x}, ["ms", "act"])
            outputs[backend] = {name: value.tolist() for name, value in blobs.items()}
        print(json.dumps(outputs))
        """,
        tmp_path, skeleton / "my_scale_plugin.py",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    prototxt = (tmp_path / "out" / "model.prototxt").read_text()
    assert 'type: "MyScale"' in prototxt and "scale: 1.5" in prototxt and "shift: -0.25" in prototxt
    expected = x * np.float32(1.5) + np.float32(-0.25)
    for backend, blobs in json.loads(result.stdout).items():
        np.testing.assert_allclose(np.array(blobs["ms"]), expected, rtol=1e-6, atol=1e-6, err_msg=backend)
        np.testing.assert_allclose(np.array(blobs["act"]), np.maximum(expected, 0), rtol=1e-6, atol=1e-6, err_msg=backend)


def test_verify_refuses_a_user_type_no_plugin_declared(tmp_path):
    """Caffe aborts the process on an unknown layer type: caffe_blobs says which types and why first."""
    from mxnet2caffe.verify.backends import caffe_blobs

    prototxt = tmp_path / "net.prototxt"
    prototxt.write_text(
        'layer { name: "x" type: "Input" top: "x" input_param { shape { dim: 1 dim: 2 } } }\n'
        'layer { name: "y" type: "MyScale" bottom: "x" top: "y" }\n'
    )
    (tmp_path / "net.caffemodel").write_bytes(b"")
    with pytest.raises(ConversionError, match="uses layer types that Caffe lacks: MyScale; a plugin's layer types"):
        caffe_blobs(prototxt, tmp_path / "net.caffemodel", {"x": np.zeros((1, 2), np.float32)}, ["y"])


def test_the_skeleton_passes_ruff_and_mypy(skeleton, tmp_path):
    """What users start from is lint-clean and typed, checked in its folder as a user would (ruff's
    default rules, Python 3.9, the oldest we support)."""
    copy = tmp_path / "my_scale"
    shutil.copytree(skeleton, copy)
    venv_bin = Path(sys.executable).parent
    ruff = subprocess.run(
        [str(venv_bin / "ruff"), "check", "--isolated", "--line-length", "120", "--target-version", "py39", "."],
        capture_output=True, text=True, cwd=copy,
    )
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr
    mypy = subprocess.run(
        [str(venv_bin / "mypy"), "--ignore-missing-imports", "--no-incremental", "--python-version", "3.9",
         "my_scale_plugin.py", "test_my_scale.py"],
        capture_output=True, text=True, cwd=copy,
    )
    assert mypy.returncode == 0, mypy.stdout + mypy.stderr
