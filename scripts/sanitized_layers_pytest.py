"""Runs pytest in a pycaffe that already has the Caffe layer library LIBRARY (built by
scripts/sanitize.sh with MXNET2CAFFE_SANITIZE=ON) registered, so the tests' layers run that build:
mxnet2caffe.caffe_layers.load() finds our types present and loads nothing more.

    python scripts/sanitized_layers_pytest.py LIBRARY [pytest arguments...]
"""

import ctypes
import os
import sys

import pytest

from mxnet2caffe.caffe.native_layers import NATIVE_LAYER_TYPES
from mxnet2caffe.runtimes.caffe_home import import_caffe


def main() -> int:
    library, pytest_args = sys.argv[1], sys.argv[2:]
    caffe = import_caffe()  # its libcaffe.so first: the library links that very one and registers there
    ctypes.CDLL(library, mode=os.RTLD_GLOBAL)
    missing = NATIVE_LAYER_TYPES - set(caffe.layer_type_list())
    if missing:
        sys.stderr.write(f"{library} did not register {sorted(missing)}\n")
        return 1
    return int(pytest.main(pytest_args))


if __name__ == "__main__":
    sys.exit(main())
