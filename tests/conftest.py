import sys
from pathlib import Path

import pytest

# lets test modules in subfolders import the shared harness
sys.path.insert(0, str(Path(__file__).parent))

import mxnet2caffe.converters  # noqa: F401  (every built-in converter registered before the first snapshot)
from mxnet2caffe import plugins
from mxnet2caffe.caffe import user_layers
from mxnet2caffe.converters import registry
from mxnet2caffe.onnx import layers as onnx_layers

# what plugins change, module by module: each test starts from and leaves behind the state before it
_PLUGIN_STATE = (
    (registry, ("_REGISTRY", "_ORIGINS", "_REPLACED")),
    (plugins, ("_LOADED", "_mxnet_setups", "_mxnet_setups_done", "_entry_points_loaded")),
    (user_layers, ("_USER_LAYERS",)),
    (onnx_layers, ("EMITTERS",)),
)


def _copy(value):
    return type(value)(value) if isinstance(value, (dict, list)) else value


@pytest.fixture(autouse=True)
def isolated_plugins(monkeypatch):
    """Plugins a test loads (in-process, or installed ones that a conversion loads through their
    entry points) are forgotten after it, modules included, so that the next load registers again."""
    modules_before = set(sys.modules)
    for module, names in _PLUGIN_STATE:
        for name in names:
            monkeypatch.setattr(module, name, _copy(getattr(module, name)))
    yield
    plugin_modules = {name for name, where in plugins.loaded_plugins().items() if where == "module"}
    for name in set(sys.modules) - modules_before:
        if name.split(".")[0] in plugin_modules or name.startswith((plugins.FILE_MODULE_PREFIX, "mxnet2caffe_test_plugin")):
            del sys.modules[name]
