"""read_params maps regular files: float32 arrays are read-only views of the map (no copy), other
float dtypes are converted once, headers are checked before data is read, and files that are not
regular files either stream (pipes) or fail clearly (devices)."""

import errno
import gc
import mmap
import os
import struct
import threading

import mxnet as mx
import numpy as np
import pytest

from mxnet2caffe.errors import InputFileError
from mxnet2caffe.mxnet import params as params_module
from mxnet2caffe.mxnet.params import read_params


def save_nd(path, arrays):
    mx.nd.save(str(path), {k: mx.nd.array(v, dtype=v.dtype) for k, v in arrays.items()})
    return path


def file_map(array):
    """The memory map the array's memory belongs to (following its chain of bases), or None."""
    base = array
    while isinstance(base, np.ndarray):
        base = base.base
    base = base.obj if isinstance(base, memoryview) else base
    return base if isinstance(base, mmap.mmap) else None


def maps_the_file(array):
    return file_map(array) is not None


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_float32_arrays_are_read_only_views_of_one_map(tmp_path, rng):
    arrays = {
        "arg:conv_weight": rng.standard_normal((8, 3, 3, 3)).astype(np.float32),
        "arg:fc_weight": rng.standard_normal((10, 72)).astype(np.float32),
        "aux:bn_moving_var": rng.random(8).astype(np.float32),
        "arg:scalar_like": np.array([4.5], np.float32),
    }
    got = read_params(save_nd(tmp_path / "m.params", arrays))
    for name, expected in arrays.items():
        array = got[name[4:]]
        assert array.tobytes() == expected.tobytes() and array.shape == expected.shape
        assert maps_the_file(array), name
        assert array.flags.c_contiguous and not array.flags.writeable
    assert len({id(file_map(array)) for array in got.values()}) == 1  # one map for the whole file
    with pytest.raises(ValueError, match="read-only"):
        got["conv_weight"][0, 0, 0, 0] = 1.0


def test_integer_arrays_are_views_too(tmp_path):
    values = np.array([[0, -1], [2**31 - 1, -(2**31)]], np.int32)
    got = read_params(save_nd(tmp_path / "i.params", {"arg:i": values}))["i"]
    assert got.dtype == np.int32 and np.array_equal(got, values) and maps_the_file(got)


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_other_floats_are_converted_once_into_their_own_memory(tmp_path, rng, dtype):
    values = (rng.standard_normal((5, 3)) * 100).astype(dtype)
    got = read_params(save_nd(tmp_path / "f.params", {"arg:w": values}))["w"]
    assert got.dtype == np.float32 and got.tobytes() == values.astype(np.float32).tobytes()
    assert not maps_the_file(got) and got.flags.c_contiguous and not got.flags.writeable


def test_bfloat16_is_widened(tmp_path):
    values = np.array([1.5, -2.0, 3.140625, -0.0, 1e30, -7.5e-20], np.float32)
    bf16 = mx.nd.amp_cast(mx.nd.array(values), dtype=np.dtype([("bfloat16", np.uint16)]))
    mx.nd.save(str(tmp_path / "b.params"), {"arg:x": bf16})
    expected = mx.nd.amp_cast(bf16, dtype="float32").asnumpy()
    got = read_params(tmp_path / "b.params")["x"]
    assert got.dtype == np.float32 and got.tobytes() == expected.tobytes() and not maps_the_file(got)


def test_unaligned_data_is_copied_into_aligned_memory(tmp_path):
    """The legacy layout puts an int64 array's data at byte 44: not a valid int64 address."""
    values = np.array([2**40, -3, 7], np.int64)
    raw = struct.pack("<QQQ", 0x112, 0, 1) + struct.pack("<II", 1, 3) + struct.pack("<iii", 1, 0, 6)
    raw += values.tobytes() + struct.pack("<Q", 1) + struct.pack("<Q", 5) + b"arg:v"
    assert (len(raw) - 8 - 5 - 8 - values.nbytes) % 8 == 4
    (tmp_path / "u.params").write_bytes(raw)
    got = read_params(tmp_path / "u.params")["v"]
    assert got.flags.aligned and np.array_equal(got, values) and not maps_the_file(got)


def test_the_map_outlives_the_dict_and_the_file(tmp_path, rng):
    values = rng.standard_normal((64, 64)).astype(np.float32)
    path = save_nd(tmp_path / "m.params", {"arg:a": values, "arg:b": values[:3]})
    kept = read_params(path)["a"]  # the dict and the other array are gone
    gc.collect()
    os.unlink(path)
    assert kept.tobytes() == values.tobytes()


def test_headers_are_checked_before_any_data_is_read(tmp_path, rng, monkeypatch):
    """A file whose last name is broken fails without converting or viewing any array."""
    path = save_nd(tmp_path / "h.params", {"arg:a": rng.standard_normal(4).astype(np.float16),
                                           "arg:b": rng.standard_normal(4).astype(np.float32)})
    path.write_bytes(path.read_bytes()[:-1])
    touched = []
    real = params_module._dense_array
    monkeypatch.setattr(params_module, "_dense_array", lambda data, dense: touched.append(dense) or real(data, dense))
    with pytest.raises(InputFileError, match="truncated at byte .* while reading name 1"):
        read_params(path)
    assert touched == []
    path.write_bytes(path.read_bytes() + b"b")
    assert list(read_params(path)) == ["a", "b"] and len(touched) == 2  # the check sees a call


def test_huge_declared_array_in_a_short_file(tmp_path):
    """A header claiming 4 GB of floats in a 60-byte file: the length check, nothing mapped is read."""
    header = struct.pack("<QQQ", 0x112, 0, 1) + struct.pack("<Iii", 0xF993FAC9, 0, 1) + struct.pack("<q", 2**30)
    path = tmp_path / "big.params"
    path.write_bytes(header + struct.pack("<iii", 1, 0, 0) + b"\0" * 16)
    with pytest.raises(InputFileError, match=f"truncated at byte {len(header) + 28} while reading array 0"):
        read_params(path)


def test_dev_zero_is_refused_at_once():
    with pytest.raises(InputFileError, match="character device, not a .params file") as info:
        read_params("/dev/zero")
    assert info.value.path == "/dev/zero"


def test_empty_file(tmp_path):
    (tmp_path / "e.params").write_bytes(b"")
    with pytest.raises(InputFileError, match=r"not an MXNet .params file \(0 bytes long\)"):
        read_params(tmp_path / "e.params")


def test_a_pipe_is_read_as_a_stream(tmp_path, rng):
    values = rng.standard_normal((3, 5)).astype(np.float32)
    raw = save_nd(tmp_path / "p.params", {"arg:w": values}).read_bytes()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(raw))
    writer.start()
    try:
        got = read_params(fifo)["w"]
    finally:
        writer.join()
    assert got.tobytes() == values.tobytes() and not got.flags.writeable


def resident_kib():
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmRSS:")).split()[1])


def test_dropped_pages_leave_the_process_and_read_again_from_the_file(tmp_path, rng):
    """drop_pages unmaps a range that was read (the header walk calls it as it goes); the bytes
    read afterwards are still the file's."""
    weights = rng.standard_normal((16, 1 << 20)).astype(np.float32)  # 64 MiB
    path = save_nd(tmp_path / "big.params", {"arg:w": weights})
    path.read_bytes()  # in the page cache, as after MXNet wrote it
    array = read_params(path)["w"]
    before = resident_kib()
    float(array.sum())  # maps every page of the array in
    loaded = resident_kib()
    params_module.mapped_file(array).drop_pages()
    dropped = resident_kib()
    assert loaded - before > 60 * 1024 and dropped - before < 4 * 1024, (before, loaded, dropped)
    assert np.array_equal(array, weights)  # read again through the map, from the page cache


def test_the_params_file_stays_open_as_long_as_its_map(tmp_path, rng):
    """The writer reads mapped arrays from the map's own descriptor: open while any array views
    the map, closed with it (no descriptor left behind per file read)."""
    path = save_nd(tmp_path / "p.params", {"arg:w": rng.standard_normal((4, 5)).astype(np.float32)})
    array = read_params(path)["w"]
    descriptor = params_module.mapped_file(array).descriptor
    assert os.path.samestat(os.fstat(descriptor), os.stat(path))
    del array
    gc.collect()
    with pytest.raises(OSError) as raised:
        os.fstat(descriptor)
    assert raised.value.errno == errno.EBADF
