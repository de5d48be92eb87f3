"""Installing the two outputs cannot be torn: by an error, SIGINT, SIGTERM, or the process dying
(SIGKILL, a crash, a power loss) between any two renames.

A child process converts over an old pair with `os.replace` wrapped so that on its Nth call the
child either dies on the spot (os._exit: what a crash leaves, the data having been flushed) or
sends itself SIGINT/SIGTERM. N runs over every rename of an install (the journal's, then each
output's backup and its new file). After a death, recovery (the next conversion or verify, here
`recover_install` directly, and once through the next conversion) must leave the new pair.
"""

import fcntl
import json
import os
import signal
import subprocess
import sys
import time

import mxnet as mx
import pytest

import mxnet2caffe
from mxnet2caffe.caffe.writer import journal_path, recover_install
from mxnet2caffe.errors import OutputFileError

from harness import EXAMPLE, random_params, save_model

OLD_PROTOTXT, OLD_CAFFEMODEL = b"old prototxt", b"old caffemodel"
RENAMES = 5  # the journal's, then (backup, new file) for the prototxt and for the caffemodel

CHILD = """
import os, signal, sys
directory, action, at = sys.argv[1], sys.argv[2], int(sys.argv[3])
calls, real = 0, os.replace

def replace(source, destination):
    global calls
    calls += 1
    if calls == at:
        if action == "die":
            os._exit(9)
        os.kill(os.getpid(), getattr(signal, action))
    real(source, destination)

os.replace = replace
from mxnet2caffe.cli import main
sys.exit(main(["convert", sys.argv[4] + "-symbol.json", sys.argv[4] + "-0000.params",
               "--input-shape", "1,1,108,108", "-o", os.path.join(directory, "out")]))
"""


def with_old_outputs(directory):
    directory.mkdir()
    (directory / "out.prototxt").write_bytes(OLD_PROTOTXT)
    (directory / "out.caffemodel").write_bytes(OLD_CAFFEMODEL)


def pair(directory):
    return (directory / "out.prototxt").read_bytes(), (directory / "out.caffemodel").read_bytes()


def run_child(directory, action, at):
    return subprocess.run([sys.executable, "-c", CHILD, str(directory), action, str(at), str(EXAMPLE)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def new_pair(tmp_path_factory):
    directory = tmp_path_factory.mktemp("reference")
    with_old_outputs(directory / "out")
    result = run_child(directory / "out", "none", 0)
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(directory / "out")) == ["out.caffemodel", "out.prototxt"]
    return pair(directory / "out")


def test_there_are_as_many_renames_as_the_tests_interrupt(tmp_path, new_pair):
    # the child counts the renames: one past the last must never fire
    with_old_outputs(tmp_path / "out")
    assert run_child(tmp_path / "out", "die", RENAMES + 1).returncode == 0
    with_old_outputs(tmp_path / "last")
    assert run_child(tmp_path / "last", "die", RENAMES).returncode == 9


@pytest.mark.parametrize("at", range(1, RENAMES + 1))
def test_death_at_any_rename_is_completed_by_recovery(tmp_path, new_pair, at):
    directory = tmp_path / "out"
    with_old_outputs(directory)
    assert run_child(directory, "die", at).returncode == 9
    journal = journal_path(directory / "out.caffemodel")
    if at == 1:  # died before the journal was in place: no output was touched
        assert not journal.exists()
        assert pair(directory) == (OLD_PROTOTXT, OLD_CAFFEMODEL)
        assert recover_install(directory / "out.caffemodel") is False
        return
    assert journal.exists()
    assert recover_install(directory / "out.caffemodel") is True
    assert pair(directory) == new_pair
    assert sorted(os.listdir(directory)) == ["out.caffemodel", "out.prototxt"]  # no journal, backup, temporary
    assert recover_install(directory / "out.caffemodel") is False


def test_the_next_conversion_completes_a_dead_install_first(tmp_path, new_pair):
    directory = tmp_path / "out"
    with_old_outputs(directory)
    assert run_child(directory, "die", 3).returncode == 9  # between the prototxt's two renames
    assert not (directory / "out.prototxt").exists()  # the old one is in its backup, the new one staged
    result = run_child(directory, "none", 0)
    assert result.returncode == 0, result.stderr
    assert "completed the install of" in result.stderr
    assert pair(directory) == new_pair
    assert sorted(os.listdir(directory)) == ["out.caffemodel", "out.prototxt"]


def test_verify_completes_a_dead_install_first(tmp_path, new_pair):
    directory = tmp_path / "out"
    with_old_outputs(directory)
    assert run_child(directory, "die", 5).returncode == 9  # the old caffemodel moved aside, the new one staged
    assert not (directory / "out.caffemodel").exists()
    report = mxnet2caffe.verify(f"{EXAMPLE}-symbol.json", f"{EXAMPLE}-0000.params",
                                directory / "out.prototxt", directory / "out.caffemodel")
    assert report.ok
    assert pair(directory) == new_pair
    assert sorted(os.listdir(directory)) == ["out.caffemodel", "out.prototxt"]


def test_a_journal_that_is_not_ours_is_refused_by_name(tmp_path):
    journal = journal_path(tmp_path / "out.caffemodel")
    journal.write_text("not json")
    with pytest.raises(OutputFileError, match=r"\.out\.caffemodel\.install.*not an install journal"):
        recover_install(tmp_path / "out.caffemodel")
    assert journal.read_text() == "not json"


@pytest.mark.parametrize("name, code, line", [("SIGINT", 130, "interrupted\n"), ("SIGTERM", 143, "terminated\n")])
@pytest.mark.parametrize("at", range(1, RENAMES + 1))
def test_signal_between_renames_waits_for_the_install(tmp_path, new_pair, name, code, line, at):
    directory = tmp_path / "out"
    with_old_outputs(directory)
    result = run_child(directory, name, at)
    assert (result.returncode, result.stderr) == (code, line)
    assert pair(directory) == new_pair
    assert sorted(os.listdir(directory)) == ["out.caffemodel", "out.prototxt"]


def test_installs_into_a_folder_take_turns(tmp_path, new_pair):
    """While another process holds the folder's lock (installing, or making its temporaries), a
    conversion into the folder waits: it makes its own temporaries and installs under that lock."""
    directory = tmp_path / "out"
    with_old_outputs(directory)
    handle = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        process = subprocess.Popen([sys.executable, "-c", CHILD, str(directory), "none", "0", str(EXAMPLE)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)  # long enough to convert the example several times over
        assert process.poll() is None  # waiting for the lock
        assert sorted(os.listdir(directory)) == ["out.caffemodel", "out.prototxt"]
        assert pair(directory) == (OLD_PROTOTXT, OLD_CAFFEMODEL)
    finally:
        os.close(handle)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert pair(directory) == new_pair
    assert sorted(os.listdir(directory)) == ["out.caffemodel", "out.prototxt"]


# --- signals at any time of a large conversion ----------------------------------------------

def large_model(directory):
    """Five 512-filter 3x3 convolutions: a 47 MB caffemodel, long enough to interrupt while writing."""
    x = mx.sym.Variable("data")
    for index in range(5):
        x = mx.sym.Convolution(x, kernel=(3, 3), pad=(1, 1), num_filter=512, name=f"conv{index}")
    args, aux = random_params(x, {"data": (1, 512, 4, 4)})
    return save_model(x, args, aux, directory, "large")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signals_during_a_large_conversion(tmp_path, signum):
    models, directory = tmp_path / "models", tmp_path / "out"
    models.mkdir()
    symbol, params = large_model(models)
    command = [sys.executable, "-m", "mxnet2caffe", "convert", str(symbol), str(params), "--input-shape",
               "1,512,4,4", "-o", str(directory / "out")]
    with_old_outputs(directory)
    assert subprocess.run(command, capture_output=True).returncode == 0
    new = pair(directory)
    outcomes = []
    for delay in (0.0, 0.002, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.12, 0.2, 0.3):
        (directory / "out.prototxt").write_bytes(OLD_PROTOTXT)
        (directory / "out.caffemodel").write_bytes(OLD_CAFFEMODEL)
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not any(entry.startswith(".out.") for entry in os.listdir(directory)):  # writing has begun
            if process.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.0005)
        time.sleep(delay)
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
        assert sorted(os.listdir(directory)) == ["out.caffemodel", "out.prototxt"], "a temporary or journal remains"
        if process.returncode == 0:  # finished before the signal (then ignored on the way out)
            assert pair(directory) == new
            outcomes.append("finished")
            continue
        assert (process.returncode, stderr) == (128 + signum, "interrupted\n" if signum == signal.SIGINT else "terminated\n")
        assert pair(directory) in ((OLD_PROTOTXT, OLD_CAFFEMODEL), new)
        outcomes.append("old" if pair(directory)[0] == OLD_PROTOTXT else "new")
    assert outcomes.count("old") >= 3, f"too few runs were interrupted while writing: {outcomes}"
    assert json.dumps(outcomes)  # shown on failure above


# --- temporaries of a conversion that was killed (SIGKILL, the out-of-memory killer) -------

KILLED_WHILE_WRITING = """
import os, signal, sys
calls, real = 0, os.fsync

def fsync(handle):  # the Nth flush of a temporary: the process is killed on the spot
    global calls
    calls += 1
    if calls == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)
    real(handle)

os.fsync = fsync
from mxnet2caffe.cli import main
main(["convert", sys.argv[3] + "-symbol.json", sys.argv[3] + "-0000.params",
      "--input-shape", "1,1,108,108", "-o", os.path.join(sys.argv[1], "out")])
"""

HOLDS_A_TEMPORARY = """
import fcntl, sys, time
handle = open(sys.argv[1], "wb")
fcntl.flock(handle, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("at", [1, 2], ids=["prototxt-written", "both-written"])
def test_the_next_conversion_removes_what_a_killed_one_left(tmp_path, new_pair, at):
    directory = tmp_path / "out"
    with_old_outputs(directory)
    killed = subprocess.run([sys.executable, "-c", KILLED_WHILE_WRITING, str(directory), str(at), str(EXAMPLE)],
                            capture_output=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL
    left = sorted(set(os.listdir(directory)) - {"out.prototxt", "out.caffemodel"})
    # both temporaries are made before either is written (they are written side by side)
    assert len(left) == 2 and all(name.startswith((".out.prototxt.", ".out.caffemodel.")) for name in left)
    assert pair(directory) == (OLD_PROTOTXT, OLD_CAFFEMODEL)  # killed before any install
    assert run_child(directory, "none", 0).returncode == 0
    assert sorted(os.listdir(directory)) == ["out.caffemodel", "out.prototxt"]
    assert pair(directory) == new_pair


def test_a_live_writers_temporary_is_left_alone(tmp_path, new_pair):
    directory = tmp_path / "out"
    with_old_outputs(directory)
    live = directory / ".out.caffemodel.abcd_123"  # as tempfile names it
    holder = subprocess.Popen([sys.executable, "-c", HOLDS_A_TEMPORARY, str(live)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        dead = directory / ".out.prototxt.zz9_dead"
        dead.write_bytes(b"left by a killed conversion")
        not_a_temporary = directory / ".out.caffemodel.notes"
        not_a_temporary.write_bytes(b"the user's")
        assert run_child(directory, "none", 0).returncode == 0
        assert live.exists() and not dead.exists() and not_a_temporary.exists()
        assert pair(directory) == new_pair
    finally:
        holder.kill()
        holder.wait()


def test_a_conversion_holds_its_temporaries_locked_while_it_writes(tmp_path, monkeypatch):
    """What keeps another conversion into the same folder from taking them for dead ones."""
    from mxnet2caffe.caffe import writer

    seen = {}
    real = writer.write_chunks

    def write_chunks(chunks, stream, **options):
        for name in os.listdir(tmp_path):
            handle = os.open(tmp_path / name, os.O_RDONLY)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                seen[name] = "unlocked"
            except BlockingIOError:
                seen[name] = "locked"
            finally:
                os.close(handle)
        real(chunks, stream, **options)

    monkeypatch.setattr(writer, "write_chunks", write_chunks)
    mxnet2caffe.convert(f"{EXAMPLE}-symbol.json", f"{EXAMPLE}-0000.params", {"data": (1, 1, 108, 108)}, tmp_path / "out")
    assert len(seen) == 2 and all(name.startswith((".out.prototxt.", ".out.caffemodel.")) for name in seen)
    assert set(seen.values()) == {"locked"}  # the finished prototxt's and its own
