"""verify: the layer-by-layer report, in both Caffe runtimes."""

import subprocess
import sys

import cv2
import numpy as np
import pytest

import mxnet2caffe
from mxnet2caffe.caffe.reader import read_caffemodel
from mxnet2caffe.verify.backends import BACKENDS
from mxnet2caffe.verify.report import verify

from harness import EXAMPLE

SYMBOL, PARAMS = f"{EXAMPLE}-symbol.json", f"{EXAMPLE}-0000.params"
BROKEN_LAYER = "stage2_unit1_conv1"


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    directory = tmp_path_factory.mktemp("verify")
    summary = mxnet2caffe.convert(SYMBOL, PARAMS, {"data": (1, 1, 108, 108)}, directory / "good")
    return summary.prototxt, summary.caffemodel


@pytest.fixture(scope="module")
def broken(converted, tmp_path_factory):
    """The good model with one weight of one convolution changed, as a bad conversion would."""
    prototxt, caffemodel = converted
    net = read_caffemodel(caffemodel)
    (layer,) = [layer for layer in net.layer if layer.name == BROKEN_LAYER]
    layer.blobs[0].data[0] += 0.5
    path = tmp_path_factory.mktemp("broken") / "broken.caffemodel"
    path.write_bytes(net.SerializeToString())
    return prototxt, path


@pytest.fixture(scope="module")
def face_image(tmp_path_factory):
    """A smooth gray image with structure, standing in for a face crop (any size: verify resizes)."""
    y, x = np.mgrid[0:150, 0:130]
    image = 128 + 60 * np.sin(x / 9.0) * np.cos(y / 13.0) + 40 * ((x - 65) ** 2 + (y - 70) ** 2 < 1600)
    path = tmp_path_factory.mktemp("image") / "face.png"
    cv2.imwrite(str(path), np.clip(image, 0, 255).astype(np.uint8))
    return path


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_good_model_passes_every_layer(converted, backend):
    report = verify(SYMBOL, PARAMS, *converted, backend=backend)
    assert report.ok, report.format()
    assert report.backend == backend
    assert max(row.comparison.relative_error for row in report.rows) <= 1e-4
    assert {row.comparison.name for row in report.rows} >= {"conv0", "bn0", "relu0", "stage1_unit1_se_mul", "fc1"}


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_names_the_broken_layer_first(broken, backend):
    report = verify(SYMBOL, PARAMS, *broken, backend=backend)
    assert not report.ok
    assert report.first_failure.comparison.name == BROKEN_LAYER
    assert report.first_failure.mxnet_output == f"{BROKEN_LAYER}_output"
    names = [row.comparison.name for row in report.rows]
    before = names[: names.index(BROKEN_LAYER)]
    assert before and all(row.within(1e-4) for row in report.rows[: len(before)])


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_image_input_gives_the_same_verdict_as_random(converted, broken, face_image, backend):
    for model, ok in ((converted, True), (broken, False)):
        from_image = verify(SYMBOL, PARAMS, *model, backend=backend, image=face_image)
        from_random = verify(SYMBOL, PARAMS, *model, backend=backend)
        assert from_image.ok == from_random.ok == ok
        assert from_image.input_description == f"image {face_image}"
        if not ok:
            assert from_image.first_failure.comparison.name == from_random.first_failure.comparison.name == BROKEN_LAYER


def run_verify(*args):
    return subprocess.run(
        [sys.executable, "-m", "mxnet2caffe", "verify", SYMBOL, PARAMS, *map(str, args)],
        capture_output=True, text=True,
    )


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_cli_report_and_exit_codes(converted, broken, face_image, backend):
    good = run_verify(*converted, "--backend", backend, "--input", face_image)
    assert good.returncode == 0, good.stdout + good.stderr
    assert f"in {backend}" in good.stdout and "OK:" in good.stdout and "fc1" in good.stdout
    bad = run_verify(*broken, "--backend", backend)
    assert bad.returncode == 1
    assert f"FAILED: first layer over tolerance: {BROKEN_LAYER} " in bad.stdout
    assert "Traceback" not in bad.stderr


def test_cli_missing_image_is_a_clean_error(converted, tmp_path):
    result = run_verify(*converted, "--input", tmp_path / "nope.png")
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "nope.png" in result.stderr


def test_python_api_returns_the_rows(converted):
    report = mxnet2caffe.verify(SYMBOL, PARAMS, *converted, backend="opencv", seed=3)
    assert isinstance(report, mxnet2caffe.VerifyReport)
    assert report.input_description == "random normal, seed 3"
    assert report.rows[0].comparison.name == "conv0" and report.rows[-1].comparison.name == "fc1"
