#!/usr/bin/env bash
# Sets up .venv with the test runtimes (real MXNet, OpenCV DNN, and the reference Caffe built
# once and cached under ~/.cache/mxnet2caffe), type-checks and lints the code, and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=test source scripts/setup_env.sh
# every runtime the tests use is installed above or in the CI image: a test that finds one
# missing fails instead of skipping (tests/test_packaging.py)
export MXNET2CAFFE_REQUIRE_RUNTIMES=1
# an installed plugin (entry point mxnet2caffe.plugins) that tests/test_plugins.py finds: a test fixture
python -m pip install -q --no-deps ./tests/plugin_package
# static checks first, each failing the run (settings in pyproject.toml): types of the package,
# then lint of everything Python in the checkout
mypy
ruff check python tests bench examples scripts
mxnet2caffe build-caffe
if [ $# -eq 0 ]; then  # the whole run (CI)
  # hostile model files: 10,000 seeded cases per reader (symbol JSON, .params), each bounded in time
  # and memory, must end in a valid model or a clear error (counts printed)
  python scripts/fuzz.py --seed 0 --cases 10000
fi
# the tests import the installed package (the source lives under python/); a failure stops here
python -m pytest -q -p no:cacheprovider tests "$@"
if [ $# -eq 0 ]; then  # the whole run (CI): the native code under ASan+UBSan, then the release wheel
  bash scripts/sanitize.sh
  bash scripts/check_wheel.sh
fi
