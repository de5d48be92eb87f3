"""Finds a real Caffe with pycaffe, as `mxnet2caffe build-caffe` builds it, and imports it.

Search order: a `caffe` that is already importable; the directory in $MXNET2CAFFE_CAFFE_HOME;
the build script's cache dir `${XDG_CACHE_HOME:-~/.cache}/mxnet2caffe/caffe-<tag>`. A Caffe home
holds python/caffe (the package, _caffe.so), lib/libcaffe.so and include/ (for plugin layers).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Optional

from ..errors import RuntimeMissingError

ENV_VAR = "MXNET2CAFFE_CAFFE_HOME"
SDIST = "brocolli-caffe==9.0.2"
BUILD_SCRIPT = Path(__file__).resolve().with_name("build_reference_caffe.sh")


def version_tag() -> str:
    """What the build script names its cache dir after: the sdist and the Python version."""
    major, minor = sys.version_info[:2]
    return f"brocolli-9.0.2-py{major}{minor}"


def default_home() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "mxnet2caffe" / f"caffe-{version_tag()}"


def build_command() -> str:
    """The command that builds Caffe for this interpreter."""
    return f"{sys.executable} -m mxnet2caffe build-caffe"


def _is_home(path: Path) -> bool:
    return (path / "python" / "caffe" / "__init__.py").is_file()


def _is_pycaffe(module: ModuleType) -> bool:
    """Not a namespace package made of some folder named caffe."""
    return getattr(module, "__file__", None) is not None and hasattr(module, "layer_type_list")


def find_caffe_home() -> Optional[Path]:
    """The Caffe home named by $MXNET2CAFFE_CAFFE_HOME, else the default cache dir if built."""
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        return Path(explicit)
    home = default_home()
    return home if _is_home(home) else None


def _missing(why: str) -> RuntimeMissingError:
    return RuntimeMissingError(
        f"verification needs a real Caffe with pycaffe, but {why}; build it ({SDIST}, several "
        f"minutes) with: {build_command()}  (or set {ENV_VAR} to a Caffe home)"
    )


def import_caffe() -> ModuleType:
    """The `caffe` module: the importable one, else the one in the Caffe home (put on sys.path).

    Caffe's INFO and WARNING logging (every layer of every net) is off unless $GLOG_minloglevel
    says otherwise."""
    module = sys.modules.get("caffe")
    if module is not None and _is_pycaffe(module):
        return module
    os.environ.setdefault("GLOG_minloglevel", "2")
    try:
        module = importlib.import_module("caffe")
    except ImportError:
        module = None
    if module is not None:
        if _is_pycaffe(module):
            return module
        del sys.modules["caffe"]  # something else named caffe, e.g. a folder of tests
    home = find_caffe_home()
    if home is None:
        raise _missing(f"`import caffe` fails and {default_home()} holds no build")
    if not _is_home(home):
        raise _missing(f"{ENV_VAR}={home} holds no python/caffe package")
    python_dir = str(home / "python")
    if python_dir not in sys.path:
        sys.path.insert(0, python_dir)
    importlib.invalidate_caches()
    try:
        return importlib.import_module("caffe")
    except ImportError as exc:
        raise RuntimeMissingError(
            f"the Caffe in {home} cannot be imported ({exc}); rebuild it with: "
            f"{build_command()} --force"
        ) from None
