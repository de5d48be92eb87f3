"""`pip wheel .` ships the layer sources (mxnet2caffe/native_src/) and the layer template
(mxnet2caffe/templates/layer/), and the installed package builds the plugin from them, as a pip
user would, against the reference Caffe: ours, and with a folder written by its new-layer."""

import os
import sys
import zipfile
from pathlib import Path

import pytest

from mxnet2caffe.caffe_layers import CAFFE_TREE_FILES, KERNELS_LIBRARY_NAME, LIBRARY_NAME
from mxnet2caffe.caffe_layers.build import resolve_caffe_home
from mxnet2caffe.caffe_layers.new_layer import TEMPLATE_FILES
from mxnet2caffe.runtimes.caffe_home import ENV_VAR

from harness import ROOT, run

# The test venv's editable install of mxnet2caffe imports it from the checkout through a finder
# that comes before PYTHONPATH: drop it, so that the installed wheel is what runs.
WITHOUT_EDITABLE = "import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in type(f).__module__]; "
CLI = WITHOUT_EDITABLE + "from mxnet2caffe.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.mark.slow
def test_installed_package_builds_the_plugin_from_its_own_sources(tmp_path):
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", ROOT)
    wheel = next((tmp_path / "dist").glob("mxnet2caffe-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"mxnet2caffe/native_src/{source}" for source in CAFFE_TREE_FILES}
    shipped |= {"mxnet2caffe/native_src/caffe_layers/CMakeLists.txt", "mxnet2caffe/native_src/caffe_layers/README.md",
                "mxnet2caffe/native_src/caffe_layers/user_kernels/CMakeLists.txt"}
    shipped |= {f"mxnet2caffe/templates/layer/{name}" for name in TEMPLATE_FILES}
    assert shipped <= names, sorted(shipped - names)

    site = tmp_path / "site"
    run(sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", site, wheel)
    code = WITHOUT_EDITABLE + (
        "from pathlib import Path; from mxnet2caffe.caffe_layers import build_plugin, native_sources; "
        "assert native_sources() == Path(sys.argv[1]) / 'mxnet2caffe' / 'native_src', native_sources(); "
        "print(build_plugin(sys.argv[2]))"
    )
    env = {**os.environ, "PYTHONPATH": str(site), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    library = run(sys.executable, "-c", code, site, resolve_caffe_home(), cwd=tmp_path, env=env).strip()
    assert library.startswith(str(tmp_path / "cache" / "mxnet2caffe" / "layers-")) and library.endswith(LIBRARY_NAME)
    assert os.path.isfile(library)

    # the installed package's new-layer, and its folder built with ours and on its own
    folder = tmp_path / "my_scale"
    run(sys.executable, "-c", CLI, "new-layer", "MyScale", "--dir", folder, cwd=tmp_path, env=env)
    env[ENV_VAR] = str(resolve_caffe_home())
    built = run(sys.executable, "-c", CLI, "build-layers", "--extra", folder, cwd=tmp_path, env=env).split()
    assert [Path(path).name for path in built] == [LIBRARY_NAME, KERNELS_LIBRARY_NAME]
    assert built[0] != library and all(os.path.isfile(path) for path in built)
