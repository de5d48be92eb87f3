#!/usr/bin/env bash
# Sets up .venv, converts the bundled SE-ResNet face model and checks it against MXNet.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=verify source scripts/setup_env.sh
mxnet2caffe convert examples/se_resnet/se_resnet 0 --input-shape data:1,1,108,108 \
  --output build/example/se_resnet --verify
