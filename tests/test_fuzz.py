"""scripts/fuzz.py, the fuzz runner of CI: it counts, it is deterministic, it replays a corpus, and
it reports a timeout or a dead worker as a failure with the case kept."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FUZZ = ROOT / "scripts" / "fuzz.py"
COUNTS = re.compile(r"^(symbol|params) reader: (\d+) cases, (\d+) valid models, (\d+) clear errors, (\d+) failures$", re.M)


def fuzz(*args):
    return subprocess.run([sys.executable, str(FUZZ), *map(str, args)], capture_output=True, text=True, timeout=600)


def counts(stdout):
    return {reader: tuple(map(int, numbers)) for reader, *numbers in COUNTS.findall(stdout)}


def tree(directory):
    return {str(path.relative_to(directory)): path.read_bytes() for path in sorted(directory.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """120 cases per reader of seed 3, kept; and the run's output."""
    directory = tmp_path_factory.mktemp("corpus")
    result = fuzz("--seed", 3, "--cases", 120, "--save-corpus", directory)
    return directory, result


def test_run_counts_every_case_and_passes(corpus):
    _, result = corpus
    assert result.returncode == 0, result.stdout + result.stderr
    found = counts(result.stdout)
    assert set(found) == {"symbol", "params"}
    for cases, valid, errors, failures in found.values():
        # both kinds of ending occur: the generator makes valid models and breaks them
        assert (cases, failures) == (120, 0) and valid + errors == cases and valid > 10 and errors > 10


def test_cases_depend_only_on_the_seed(corpus, tmp_path):
    directory, _ = corpus
    assert len([case for case in directory.iterdir() if (case / "case.json").is_file()]) == 240
    again = fuzz("--seed", 3, "--cases", 120, "--save-corpus", tmp_path / "again")
    assert again.returncode == 0
    assert tree(tmp_path / "again") == tree(directory)
    other = fuzz("--seed", 4, "--cases", 120, "--reader", "symbol", "--save-corpus", tmp_path / "other")
    assert other.returncode == 0
    def cases(files):  # large files are hard links into .shared: the cases' own files are compared
        return {name: data for name, data in files.items() if name.startswith("symbol-")}

    assert cases(tree(tmp_path / "other")) != cases(tree(directory))
    assert len(cases(tree(tmp_path / "other"))) == 3 * 120


def test_replay_gives_the_same_counts(corpus):
    directory, result = corpus
    replay = fuzz("--corpus", directory)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert counts(replay.stdout) == counts(result.stdout)


def example_corpus(directory):
    """A corpus of one case: the bundled example, a valid model of about 10 ms of conversion."""
    example = ROOT / "examples" / "se_resnet"
    case = directory / "single" / "symbol-000000"
    case.mkdir(parents=True)
    shutil.copy(example / "se_resnet-symbol.json", case / "symbol.json")
    shutil.copy(example / "se_resnet-0000.params", case / "model.params")
    (case / "case.json").write_text(json.dumps({"reader": "symbol", "input_shapes": {"data": [1, 1, 112, 112]}}))
    return case.parent


def test_example_replays_as_a_valid_model(tmp_path):
    result = fuzz("--corpus", example_corpus(tmp_path), "--reader", "symbol")
    assert result.returncode == 0, result.stdout + result.stderr
    assert counts(result.stdout) == {"symbol": (1, 1, 0, 0)}


def test_timeout_is_a_failure_and_the_case_is_kept(tmp_path):
    corpus = example_corpus(tmp_path)
    result = fuzz("--corpus", corpus, "--reader", "symbol", "--timeout", 0.001, "--failures", tmp_path / "kept")
    assert result.returncode == 1
    assert "FAILURE symbol-000000" in result.stdout and "timeout after 0.001 s" in result.stdout, result.stdout
    assert counts(result.stdout) == {"symbol": (1, 0, 0, 1)}
    assert f"--corpus {tmp_path / 'kept'}" in result.stdout
    assert tree(tmp_path / "kept" / "symbol-000000") == tree(corpus / "symbol-000000")


def test_dead_worker_is_a_failure(tmp_path):
    """30 MiB of address space: the worker dies importing numpy, before the case."""
    result = fuzz("--corpus", example_corpus(tmp_path), "--reader", "symbol", "--memory", 30,
                  "--failures", tmp_path / "kept")
    assert result.returncode == 1
    assert re.search(r"FAILURE symbol-000000 .*the worker died \(exit \d+\)", result.stdout), result.stdout
    assert counts(result.stdout) == {"symbol": (1, 0, 0, 1)}


def fuzz_module():
    sys.path.insert(0, str(FUZZ.parent))
    try:
        import fuzz as module
    finally:
        sys.path.remove(str(FUZZ.parent))
    return module


def small_net(*layers, outputs=("relu",), shapes=None):
    """data (1, 2) -> the given layers; outputs and shapes as given."""
    from mxnet2caffe.caffe.net import Net, Tensor

    net = Net(name="n", inputs=[Tensor("data", (1, 2))], layers=list(layers))
    net.outputs = [Tensor(blob, (1, 2)) for blob in outputs]
    net.shapes = shapes or {"data": (1, 2), "relu": (1, 2)}
    return net


@pytest.mark.parametrize(
    "layers, outputs, shapes, defect",
    [
        ([("relu", "data", "relu")], ("relu",), None, ""),
        ([("relu", "data", "relu"), ("relu", "relu", "relu")], ("relu",), None, "two layers named 'relu'"),
        ([("relu", "data", "relu"), ("again", "data", "relu")], ("relu",), None, "is not named after its first top"),
        ([("relu", "data", "relu"), ("relu2", "data", "relu2"), ("relu2b", "data", "relu2")], ("relu",), None,
         "is not named after"),
        ([("relu", "other", "relu")], ("relu",), None, "reads 'other' before any layer writes it"),
        ([("relu", "data", "relu")], ("nothing",), None, "output 'nothing' is no blob"),
        ([("relu", "data", "relu")], ("relu",), {"data": (1, 2), "relu": (1, 0)}, "has shape (1, 0)"),
        ([("data", "data", "data")], ("data",), {"data": (1, 2)}, ""),  # in place: written twice is fine
    ],
)
def test_net_defect(layers, outputs, shapes, defect):
    """The worker's check of a converted net: a defect Caffe or OpenCV would trip on is named."""
    from mxnet2caffe.caffe.net import Layer

    net = small_net(*(Layer(name, "ReLU", (bottom,), (top,)) for name, bottom, top in layers),
                    outputs=outputs, shapes=shapes)
    found = fuzz_module().net_defect(net)
    assert (defect in found) if defect else found == ""


def test_net_defect_blob_written_twice():
    from mxnet2caffe.caffe.net import Layer

    net = small_net(Layer("relu", "ReLU", ("data",), ("relu",)), Layer("split", "Slice", ("data",), ("split", "relu")))
    assert fuzz_module().net_defect(net) == "blob 'relu' written twice (layer 'split')"
