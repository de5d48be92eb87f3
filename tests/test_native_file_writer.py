"""mxnet2caffe._native.write_pieces (cpp/file_writer.cpp): the bytes land where they belong on any
number of threads, for pieces of every size and kind, beside what the file held, those of a mapped
file read from the file itself; failures are OSErrors with the errno of the call that failed; and
the system calls that make it fast (block reservation, splice, early writeback) are made, as
strace shows them, while the map is never touched."""

import errno
import mmap
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from mxnet2caffe import _native

MiB = 1 << 20


def mixed_pieces(rng, source):
    """Headers, small and large arrays (large ones past the writer's 4 MiB steps, its 1 MiB
    pipe and its 1 MiB thread shares), empty pieces, and pieces of a read-only map of a file."""
    view = memoryview(source[0])
    return [
        (b"\x0a\x03net", None),
        (b"", None),
        (rng.normal(size=17).astype(np.float32), None),  # gathered with its neighbours
        (rng.normal(size=(3 * MiB + 12345) // 4).astype(np.float32), None),
        (np.zeros(0, np.float32), None),
        (bytes(range(256)) * 300, None),  # 76800 bytes: written on its own
        (view[5:5 + 9 * MiB + 3], source),  # unaligned start, unaligned length
        (b"\x12\x01x", None),
        (view[-70000:], source),  # up to the end of the map
        (view[:100], source),  # small and mapped: gathered
        (rng.normal(size=(64, 3, 7, 7)).astype(np.float32), None),
    ]


@pytest.fixture
def mapped(tmp_path):
    """(map, descriptor) of a file: the source of mapped pieces."""
    path = tmp_path / "source.params"
    path.write_bytes(np.random.default_rng(7).bytes(12 * MiB + 1234))
    with open(path, "rb") as source:
        yield mmap.mmap(source.fileno(), 0, access=mmap.ACCESS_READ), source.fileno()


def expected_bytes(pieces):
    return b"".join(bytes(memoryview(piece).cast("B")) for piece, _ in pieces)


@pytest.mark.parametrize("threads", [0, 1, 2, 3, 8])
@pytest.mark.parametrize("writeback", [True, False])
def test_pieces_land_end_to_end_after_the_offset(tmp_path, mapped, threads, writeback):
    pieces = mixed_pieces(np.random.default_rng(threads), mapped)
    path = tmp_path / "out"
    path.write_bytes(b"kept before")
    with open(path, "r+b") as stream:
        _native.write_pieces(stream.fileno(), 11, pieces, writeback=writeback, threads=threads)
        assert stream.tell() == 0  # pwrite: the descriptor's position is the caller's
    assert path.read_bytes() == b"kept before" + expected_bytes(pieces)


def test_the_bytes_come_from_the_file_not_the_map(tmp_path, mapped):
    """What the map shows is what the file holds; given another file (of the same size) as the
    source, the writer copies that one: it reads the file, never the map."""
    region, _ = mapped
    other = tmp_path / "other"
    other.write_bytes(bytes(reversed(region[:])))
    view = memoryview(region)
    pieces = [(view[10:3 * MiB], None), (view[7:70007], None), (view[:40], None)]
    with open(other, "rb") as source:
        for index, (piece, _) in enumerate(pieces):
            pieces[index] = (piece, (region, source.fileno()))
        with open(tmp_path / "out", "wb") as stream:
            _native.write_pieces(stream.fileno(), 0, pieces, True)
    flipped = other.read_bytes()
    assert (tmp_path / "out").read_bytes() == flipped[10:3 * MiB] + flipped[7:70007] + flipped[:40]


def test_a_piece_outside_its_map_is_refused(tmp_path, mapped):
    with open(tmp_path / "out", "wb") as stream, pytest.raises(ValueError, match="does not lie in the map"):
        _native.write_pieces(stream.fileno(), 0, [(b"elsewhere", mapped)], True)


def test_a_source_file_shorter_than_its_map_gives_eio(tmp_path, mapped):
    region, _ = mapped
    short = tmp_path / "short"
    short.write_bytes(region[:MiB])
    view = memoryview(region)
    for piece in (view[MiB - 10:MiB + 10], view[MiB - 10:3 * MiB]):  # read and spliced
        with open(short, "rb") as source, open(tmp_path / "out", "wb") as stream, pytest.raises(OSError) as raised:
            _native.write_pieces(stream.fileno(), 0, [(piece, (region, source.fileno()))], True)
        assert raised.value.errno == errno.EIO


def test_nothing_to_write_leaves_the_file_alone(tmp_path):
    path = tmp_path / "out"
    path.write_bytes(b"abc")
    with open(path, "r+b") as stream:
        _native.write_pieces(stream.fileno(), 3, [(b"", None), (np.zeros((2, 0), np.float32), None)], True)
    assert path.read_bytes() == b"abc"


def test_a_piece_that_is_not_contiguous_is_refused(tmp_path):
    strided = np.arange(20, dtype=np.float32)[::2]
    with open(tmp_path / "out", "wb") as stream, pytest.raises(ValueError, match="not C-contiguous"):
        _native.write_pieces(stream.fileno(), 0, [(strided, None)], True)


def test_a_descriptor_not_open_for_writing_gives_its_errno(tmp_path):
    path = tmp_path / "out"
    path.write_bytes(b"")
    with open(path, "rb") as stream, pytest.raises(OSError) as raised:
        _native.write_pieces(stream.fileno(), 0, [(b"x" * (3 * MiB), None)], True, threads=2)
    assert raised.value.errno == errno.EBADF and raised.value.strerror == os.strerror(errno.EBADF)


# a file size limit: the reservation of the blocks fails at once with EFBIG (SIGXFSZ ignored,
# as a process that wants the error does)
FILE_TOO_LARGE = """
import resource, signal, sys
import numpy as np
from mxnet2caffe import _native
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
with open(sys.argv[1], "wb") as stream:
    try:
        _native.write_pieces(stream.fileno(), 0, [(np.zeros(1 << 20, np.float32), None)], True)
    except OSError as error:
        print(error.errno, error.strerror)
"""


def test_a_file_size_limit_gives_efbig_before_anything_is_written(tmp_path):
    result = subprocess.run([sys.executable, "-c", FILE_TOO_LARGE, str(tmp_path / "out")],
                            capture_output=True, text=True, check=True)
    assert result.stdout.split()[0] == str(errno.EFBIG)
    assert (tmp_path / "out").stat().st_size == 0  # refused by the block reservation, not midway


def test_a_file_opened_for_appending_is_refused(tmp_path):
    """pwrite would put the bytes at the end, not at the offset (Linux)."""
    path = tmp_path / "out"
    path.write_bytes(b"kept")
    with open(path, "ab") as stream, pytest.raises(OSError) as raised:
        _native.write_pieces(stream.fileno(), 4, [(b"x" * (2 * MiB), None)], True)
    assert raised.value.errno == errno.EINVAL and path.read_bytes() == b"kept"


# the child writes 24 MiB of a mapped file after a header, and small pieces of it, on two threads
TRACED = """
import mmap, sys
from mxnet2caffe import _native
with open(sys.argv[1], "rb") as source:
    region = mmap.mmap(source.fileno(), 0, access=mmap.ACCESS_READ)
    view = memoryview(region)
    pieces = [(b"header", None), (view, (region, source.fileno())), (view[:1000], (region, source.fileno()))]
    with open(sys.argv[2], "wb") as stream:
        _native.write_pieces(stream.fileno(), 0, pieces, True, threads=2)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux system calls")
def test_blocks_are_reserved_the_file_spliced_and_writeback_started(tmp_path):
    assert shutil.which("strace"), "strace is installed by scripts/setup_env.sh for the tests"
    source = tmp_path / "source"
    source.write_bytes(np.random.default_rng(0).bytes(24 * MiB))
    out = tmp_path / "out"
    trace = subprocess.run(
        # a file per thread (-ff): no call split into "unfinished" and "resumed" lines
        ["strace", "-ff", "-e", "trace=fallocate,splice,pread64,sync_file_range,pwrite64",
         "-o", str(tmp_path / "trace"), sys.executable, "-c", TRACED, str(source), str(out)],
        capture_output=True, text=True)
    assert trace.returncode == 0, trace.stderr
    assert out.read_bytes() == b"header" + source.read_bytes() + source.read_bytes()[:1000]
    per_thread = [path.read_text() for path in tmp_path.glob("trace.*")]
    calls = "".join(per_thread)
    total = 6 + 24 * MiB + 1000
    assert re.search(rf"fallocate\(\d+, 0, 0, {total}\)\s+= 0", calls)
    spliced = [int(count) for count in re.findall(r"splice\(\d+, \[\d+\], \d+, NULL, \d+, SPLICE_F_MOVE\)\s+= (\d+)", calls)]
    assert sum(spliced) == 24 * MiB  # into the pipes, from the file; and out again:
    assert sum(int(count) for count in re.findall(r"splice\(\d+, NULL, \d+, \[\d+\], \d+, SPLICE_F_MOVE\)\s+= (\d+)", calls)) == 24 * MiB
    assert re.search(r"pread64\(\d+, .*, 1000, 0\)\s+= 1000", calls)  # the small piece, read into the gathered bytes
    started = sorted((int(start), int(count)) for start, count in
                     re.findall(r"sync_file_range\(\d+, (\d+), (\d+), SYNC_FILE_RANGE_WRITE\)\s+= 0", calls))
    assert started[0][0] == 0 and len(started) >= 6  # every few MB, from the start
    covered = 0
    for start, count in started:  # the two threads' ranges cover the file without a gap
        assert start <= covered
        covered = max(covered, start + count)
    assert covered == total
    assert sum("splice(" in thread for thread in per_thread) == 2  # on two threads


# The child maps a file it just wrote (its page cache in large folios, as after MXNet saved it)
# and writes 300 arrays of it as a .params file lays them out: a few header bytes apart.
MAPPED_OUT = """
import mmap, sys
from mxnet2caffe import _native
size, gap, count = 147456, 61, 300
with open(sys.argv[1], "wb") as source:
    source.write(bytes(range(256)) * ((size + gap) * count // 256 + 1))
with open(sys.argv[1], "rb") as source:
    region = mmap.mmap(source.fileno(), 0, access=mmap.ACCESS_READ)
    view = memoryview(region)
    pieces = [(view[gap + k * (size + gap):(k + 1) * (size + gap)], (region, source.fileno())) for k in range(count)]
    pieces += [(view[k * (size + gap):k * (size + gap) + gap], (region, source.fileno())) for k in range(count)]
    with open(sys.argv[2], "wb") as stream:
        _native.write_pieces(stream.fileno(), 0, pieces, True)
status = open("/proc/self/smaps").read().splitlines()
line = next(index for index, text in enumerate(status) if text.endswith(sys.argv[1]))
print(next(text.split()[1] for text in status[line:] if text.startswith("Rss:")))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/smaps")
def test_no_page_of_the_map_is_mapped_by_writing(tmp_path):
    """Reading an array through the map would map whole folios of the page cache, reaching into
    the arrays beside it: the writer reads the file, so the process stays small however the
    pieces lie."""
    source = tmp_path / "source.params"
    result = subprocess.run([sys.executable, "-c", MAPPED_OUT, str(source), str(tmp_path / "out")],
                            capture_output=True, text=True, check=True)
    assert int(result.stdout) == 0  # kB of the map resident in the process
