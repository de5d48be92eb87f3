"""Tests for mxnet2caffe.mxnet.params against files written by real MXNet.

MXNet 1.9 writes V2 arrays (V3 under np-shape semantics); the older V1 and legacy
layouts are written by hand with struct below.
"""

import logging
import struct

import mxnet as mx
import numpy as np
import pytest

from mxnet2caffe.errors import InputFileError
from mxnet2caffe.mxnet.params import read_params

V1_MAGIC = 0xF993FAC8
V2_MAGIC = 0xF993FAC9
V3_MAGIC = 0xF993FACA
FLAGS = {np.dtype(np.float32): 0, np.dtype(np.float64): 1, np.dtype(np.float16): 2,
         np.dtype(np.uint8): 3, np.dtype(np.int32): 4, np.dtype(np.int8): 5,
         np.dtype(np.int64): 6, np.dtype(np.bool_): 7}


# --- helpers -----------------------------------------------------------------

def assert_bits_equal(got, expected):
    """Same dtype, shape and bytes (NaN-safe, -0.0-safe)."""
    expected = np.asarray(expected)
    assert got.dtype == expected.dtype
    assert got.shape == expected.shape
    assert got.tobytes() == expected.tobytes()
    assert got.flags.c_contiguous and not got.flags.writeable  # views of the mapped file
    assert got.dtype.byteorder in ("=", "|")


def list_file(path, arrays, names):
    """Writes an NDArray list around already encoded arrays."""
    out = struct.pack("<QQQ", 0x112, 0, len(arrays)) + b"".join(arrays)
    out += struct.pack("<Q", len(names))
    for name in names:
        raw = name.encode("utf-8") if isinstance(name, str) else name
        out += struct.pack("<Q", len(raw)) + raw
    path.write_bytes(out)
    return path


def body(arr, flag=None):
    """Context, type flag and data: what follows the shape in every layout."""
    arr = np.ascontiguousarray(arr)
    flag = FLAGS[arr.dtype] if flag is None else flag
    return struct.pack("<iii", 1, 0, flag) + arr.astype(arr.dtype.newbyteorder("<")).tobytes()


def v1_array(arr):
    return struct.pack(f"<Ii{arr.ndim}q", V1_MAGIC, arr.ndim, *arr.shape) + body(arr)


def legacy_array(arr):
    # No magic: the first u32 is ndim, dims are u32.
    return struct.pack(f"<I{arr.ndim}I", arr.ndim, *arr.shape) + body(arr)


def v2_array(arr, flag=None):
    return struct.pack(f"<Iii{arr.ndim}q", V2_MAGIC, 0, arr.ndim, *arr.shape) + body(arr, flag)


def save_nd(path, arrays):
    mx.nd.save(str(path), {k: mx.nd.array(v, dtype=v.dtype) for k, v in arrays.items()})
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def small_file(tmp_path, rng):
    """A real MXNet file with several arrays, dtypes and names."""
    return save_nd(tmp_path / "small.params", {
        "arg:w": rng.standard_normal((2, 3)).astype(np.float32),
        "aux:m": np.array([1, -2, 3], np.int32),
        "arg:h": np.array([0.5, 7], np.float16),
    })


# --- real MXNet files ----------------------------------------------------------

def test_float32_with_arg_aux_prefixes_and_ndims(tmp_path, rng):
    arrays = {
        "arg:conv0_weight": rng.standard_normal((8, 3, 3, 3)).astype(np.float32),
        "arg:conv0_bias": rng.standard_normal(8).astype(np.float32),
        "arg:fc_weight": rng.standard_normal((10, 72)).astype(np.float32),
        "arg:odd": rng.standard_normal((2, 3, 4)).astype(np.float32),
        "arg:five": rng.standard_normal((1, 2, 1, 3, 2)).astype(np.float32),
        "aux:bn_moving_mean": rng.standard_normal(8).astype(np.float32),
        "aux:bn_moving_var": rng.random(8).astype(np.float32),
        "arg:special": np.array([np.nan, np.inf, -np.inf, -0.0, 1e-45], np.float32),
    }
    got = read_params(save_nd(tmp_path / "m.params", arrays))
    assert list(got) == [k[4:] for k in arrays]
    for name, expected in arrays.items():
        assert_bits_equal(got[name[4:]], expected)


def test_float16_and_float64_become_float32(tmp_path, rng):
    f16 = np.array([1, -2.5, 65504, 6e-8, np.inf, -0.0], np.float16).reshape(2, 3)
    f64 = rng.standard_normal((3, 2)) * 1e3
    got = read_params(save_nd(tmp_path / "f.params", {"arg:h": f16, "arg:d": f64}))
    assert_bits_equal(got["h"], f16.astype(np.float32))
    assert_bits_equal(got["d"], f64.astype(np.float32))


def test_integer_and_bool_arrays_keep_their_dtype(tmp_path):
    arrays = {
        "arg:i32": np.array([[0, -1], [2**31 - 1, -(2**31)]], np.int32),
        "arg:i64": np.array([2**40, -3], np.int64),
        "arg:u8": np.array([0, 255, 7], np.uint8),
        "arg:i8": np.array([-128, 127], np.int8),
        "aux:b": np.array([True, False, True]),
    }
    got = read_params(save_nd(tmp_path / "i.params", arrays))
    for name, expected in arrays.items():
        assert_bits_equal(got[name[4:]], expected)


def test_bfloat16_becomes_float32(tmp_path):
    values = np.array([1.5, -2.0, 3.140625, 0.0, -0.0, 1e30], np.float32)
    bf16 = mx.nd.amp_cast(mx.nd.array(values), dtype=np.dtype([("bfloat16", np.uint16)]))
    mx.nd.save(str(tmp_path / "b.params"), {"arg:x": bf16})
    expected = mx.nd.amp_cast(bf16, dtype="float32").asnumpy()
    assert_bits_equal(read_params(tmp_path / "b.params")["x"], expected)


def test_gluon_bare_names_and_export_prefixes(tmp_path):
    net = mx.gluon.nn.HybridSequential()
    net.add(mx.gluon.nn.Conv2D(4, 3, in_channels=2), mx.gluon.nn.BatchNorm(in_channels=4),
            mx.gluon.nn.Dense(3, in_units=4 * 4 * 4))
    net.initialize(mx.init.Uniform())
    net.hybridize()
    net(mx.nd.ones((1, 2, 6, 6)))
    net.save_parameters(str(tmp_path / "g.params"))
    net.export(str(tmp_path / "e"))

    gluon = read_params(tmp_path / "g.params")
    assert list(gluon) == ["0.weight", "0.bias", "1.gamma", "1.beta", "1.running_mean",
                           "1.running_var", "2.weight", "2.bias"]
    for name, expected in mx.nd.load(str(tmp_path / "g.params")).items():
        assert_bits_equal(gluon[name], expected.asnumpy())

    exported = read_params(tmp_path / "e-0000.params")
    assert set(exported) == set(net.collect_params())
    for name, param in net.collect_params().items():
        assert_bits_equal(exported[name], param.data().asnumpy())


def test_v3_np_shape_file_with_scalar_and_zero_size(tmp_path):
    path = tmp_path / "v3.params"
    with mx.util.np_shape(True):
        arrays = {"arg:w": mx.nd.array(np.arange(6, dtype=np.float32).reshape(2, 3)),
                  "arg:s": mx.nd.array(np.float32(2.5)),
                  "arg:z": mx.nd.zeros((0, 3))}
        assert arrays["arg:s"].shape == ()
        mx.nd.save(str(path), arrays)
    assert struct.unpack_from("<I", path.read_bytes(), 24)[0] == V3_MAGIC
    got = read_params(path)
    assert_bits_equal(got["w"], np.arange(6, dtype=np.float32).reshape(2, 3))
    assert_bits_equal(got["s"], np.array(2.5, np.float32))
    assert_bits_equal(got["z"], np.zeros((0, 3), np.float32))


def test_real_file_is_v2(tmp_path, rng):
    raw = small_file(tmp_path, rng).read_bytes()
    assert struct.unpack_from("<QQQI", raw) == (0x112, 0, 3, V2_MAGIC)


def test_empty_dict(tmp_path):
    mx.nd.save(str(tmp_path / "e.params"), {})
    assert read_params(tmp_path / "e.params") == {}


# --- hand-written older layouts ----------------------------------------------------

def test_v1_and_legacy_layouts(tmp_path, rng):
    a = rng.standard_normal((2, 3, 1, 2)).astype(np.float32)
    b = np.array([5, -6, 7], np.int32)
    c = rng.standard_normal(4).astype(np.float16)
    d = rng.standard_normal((3, 2))
    path = list_file(tmp_path / "old.params",
                     [v1_array(a), legacy_array(b), legacy_array(c), v1_array(d), v2_array(a)],
                     ["arg:a", "aux:b", "c", "arg:d", "arg:e"])
    got = read_params(path)
    assert list(got) == ["a", "b", "c", "d", "e"]
    assert_bits_equal(got["a"], a)
    assert_bits_equal(got["b"], b)
    assert_bits_equal(got["c"], c.astype(np.float32))
    assert_bits_equal(got["d"], d.astype(np.float32))
    assert_bits_equal(got["e"], a)


def test_uninitialized_arrays_are_skipped(tmp_path, caplog):
    x = np.ones(2, np.float32)
    none_v2 = struct.pack("<Iii", V2_MAGIC, 0, 0)  # ndim 0, nothing follows
    none_v3 = struct.pack("<Iii", V3_MAGIC, 0, -1)  # unknown ndim
    none_legacy = struct.pack("<I", 0)
    path = list_file(tmp_path / "n.params",
                     [none_v2, v1_array(x), none_v3, none_legacy],
                     ["arg:n2", "arg:x", "arg:n3", "arg:nl"])
    with caplog.at_level(logging.WARNING):
        got = read_params(path)
    assert list(got) == ["x"]
    assert "arg:n2" in caplog.text and "arg:n3" in caplog.text and "arg:nl" in caplog.text


def test_pathlike_and_str(tmp_path, rng):
    path = small_file(tmp_path, rng)
    assert read_params(str(path)).keys() == read_params(path).keys()


# --- errors ----------------------------------------------------------------------

def expect_error(path, *fragments):
    with pytest.raises(InputFileError) as info:
        read_params(path)
    message = str(info.value)
    assert str(path) in message and info.value.path == str(path)
    for fragment in fragments:
        assert fragment in message
    return message


def test_missing_file(tmp_path):
    expect_error(tmp_path / "nope.params", "no such file")


def test_directory(tmp_path):
    expect_error(tmp_path, "directory")


def test_wrong_magic(tmp_path):
    path = tmp_path / "sym.json"
    path.write_text('{"nodes": [], "arg_nodes": [], "heads": []}')
    expect_error(path, "not an MXNet .params file", "0x112")


@pytest.mark.parametrize("size", [0, 3])
def test_too_short(tmp_path, size):
    path = tmp_path / "short.params"
    path.write_bytes(b"\x12\x01\x00"[:size])
    expect_error(path, "not an MXNet .params file")


def test_truncated_at_every_byte(tmp_path, rng):
    raw = small_file(tmp_path, rng).read_bytes()
    cut = tmp_path / "cut.params"
    for size in range(len(raw)):
        cut.write_bytes(raw[:size])
        message = expect_error(cut)
        if size >= 8:
            assert f"truncated at byte {size} while reading" in message


def test_truncation_names_the_array_or_name(tmp_path, rng):
    raw = small_file(tmp_path, rng).read_bytes()
    cut = tmp_path / "cut.params"
    cut.write_bytes(raw[:40])
    expect_error(cut, "while reading array 0")
    cut.write_bytes(raw[:-3])
    expect_error(cut, "while reading name 2")


def test_sparse_storage(tmp_path):
    path = tmp_path / "s.params"
    mx.nd.save(str(path), {"arg:s": mx.nd.sparse.zeros("row_sparse", (3, 2))})
    expect_error(path, "array 0 'arg:s'", "sparse storage not supported")


@pytest.mark.parametrize("stype", ["row_sparse", "csr"])
def test_sparse_with_data_is_named(tmp_path, stype):
    dense = np.array([[0, 1, 0], [2, 0, 3]], np.float32)
    path = tmp_path / "s.params"
    mx.nd.save(str(path), {"arg:a": mx.nd.array(dense),
                           "arg:emb": mx.nd.array(dense).tostype(stype),
                           "arg:c": mx.nd.array(dense)})
    expect_error(path, "array 1 'arg:emb'", "sparse storage not supported", stype)


def test_trailing_bytes(tmp_path, rng):
    path = small_file(tmp_path, rng)
    path.write_bytes(path.read_bytes() + b"\0junk")
    expect_error(path, "5 trailing bytes")


def test_unnamed_list(tmp_path):
    path = tmp_path / "l.params"
    mx.nd.save(str(path), [mx.nd.ones((2, 2))])
    expect_error(path, "no names")


def test_unknown_dtype_flag(tmp_path):
    path = list_file(tmp_path / "d.params",
                     [v2_array(np.ones(2, np.float32)), v2_array(np.ones(2, np.float32), flag=99)],
                     ["arg:a", "arg:b"])
    expect_error(path, "array 1", "dtype flag 99")


def test_unknown_storage_type(tmp_path):
    path = list_file(tmp_path / "st.params", [struct.pack("<Ii", V2_MAGIC, 7)], ["arg:a"])
    expect_error(path, "array 0", "storage type 7")


@pytest.mark.parametrize("names, fragment", [
    (["arg:x", "arg:x"], "duplicate name 'arg:x'"),
    (["arg:x", "aux:x"], "both give parameter 'x'"),
    (["x", "arg:x"], "both give parameter 'x'"),
])
def test_colliding_names(tmp_path, names, fragment):
    arr = v2_array(np.ones(1, np.float32))
    expect_error(list_file(tmp_path / "c.params", [arr, arr], names), fragment, "arrays 0 and 1")


def test_name_count_mismatch(tmp_path):
    arr = v2_array(np.ones(1, np.float32))
    expect_error(list_file(tmp_path / "c.params", [arr, arr], ["arg:a"]), "1 names for 2 arrays")


def test_bad_utf8_name(tmp_path):
    arr = v2_array(np.ones(1, np.float32))
    expect_error(list_file(tmp_path / "u.params", [arr], [b"arg:\xff"]), "name 0", "UTF-8")


def test_huge_counts_and_shapes(tmp_path):
    header = struct.pack("<QQ", 0x112, 0)
    cases = [
        struct.pack("<Q", 2**64 - 1),  # array count
        struct.pack("<QIii", 1, V2_MAGIC, 0, 2**31 - 1),  # ndim
        struct.pack("<QIii2q", 1, V2_MAGIC, 0, 2, 2**62, 2**62),  # element count
        struct.pack("<QIii2qiii", 1, V2_MAGIC, 0, 2, 0, 2**62, 1, 0, 0),  # zero-size
        struct.pack("<QI", 1, 0xFFFFFF),  # legacy ndim
        struct.pack("<QIii", 1, V2_MAGIC, 0, -5),  # negative ndim
    ]
    for k, case in enumerate(cases):
        path = tmp_path / f"h{k}.params"
        path.write_bytes(header + case)
        expect_error(path, "array 0")


def test_corrupted_bytes_never_escape(tmp_path, rng):
    """Random byte damage gives a result or an InputFileError, nothing else."""
    raw = bytearray(small_file(tmp_path, rng).read_bytes())
    path = tmp_path / "fuzz.params"
    for _ in range(2000):
        damaged = bytearray(raw)
        for pos in rng.integers(16, len(raw), size=rng.integers(1, 4)):
            damaged[pos] = int(rng.integers(0, 256))
        path.write_bytes(bytes(damaged))
        try:
            read_params(path)
        except InputFileError:
            pass
