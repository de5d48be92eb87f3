#!/usr/bin/env bash
# Sets up .venv with the test runtimes (real MXNet, OpenCV DNN, and the reference Caffe built
# once and cached under ~/.cache/mxnet2caffe), type-checks and lints the code, and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=test source scripts/setup_env.sh
# static checks first, each failing the run (settings in pyproject.toml): types of the package,
# then lint of everything Python in the checkout
mypy
ruff check python tests bench examples scripts
mxnet2caffe build-caffe
# the tests import the installed package (the source lives under python/); pytest's exit
# code (5 when no test ran) goes straight out
python -m pytest -q -p no:cacheprovider tests "$@"
