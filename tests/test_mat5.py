"""The in-place MATLAB v5 reader against scipy.io.loadmat: synthetic corpora and hand-made edge cases."""

from __future__ import annotations

import platform
import shutil
import struct

import numpy as np
import pytest
import scipy.io

from emod_data.errors import ReaderError
from emod_data.readers.containers import MatV5Container, open_container
from emod_data.readers.mat5 import read_numeric, scan_mat5


def _scipy(path) -> dict:
    return {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}


def _assert_same(path) -> MatV5Container:
    """Every variable read by the container equals scipy's: values, shape and dtype (native order)."""
    expected = _scipy(path)
    with open_container(path, "mat") as container:
        assert sorted(container.keys()) == sorted(expected)
        for key, want in expected.items():
            got = container[key]
            if want.dtype.names or want.dtype == object:  # structs and cells: scipy's own objects
                assert got.dtype == want.dtype and got.shape == want.shape
                continue
            assert got.shape == want.shape, key
            assert got.dtype == want.dtype.newbyteorder("="), key
            assert np.array_equal(got, want), key
    return container


@pytest.mark.slow
@pytest.mark.parametrize("corpus", ["seed", "seed_iv"])
def test_synthetic_corpus_files_match_scipy(raw_corpora, corpus):
    files = sorted(p for p in raw_corpora[corpus].rglob("*.mat"))
    assert files
    for path in files:
        numeric = [v for v in scan_mat5(path) if v.numeric]
        assert numeric, path  # the trials take the in-place path, not the scipy fallback
        _assert_same(path)


@pytest.mark.slow
def test_trial_is_a_read_only_view_of_the_file(raw_corpora):
    path = next((raw_corpora["seed"] / "Preprocessed_EEG").glob("*_*.mat"))
    variable = next(v for v in scan_mat5(path) if v.numeric)
    array = read_numeric(path, variable)
    assert not array.flags.owndata and not array.flags.writeable and array.flags.f_contiguous
    assert variable.stored == "<f8" and variable.dtype == "f8" and array.shape == (62, variable.shape[1])


def test_numeric_types_small_elements_and_mixed_variables(tmp_path):
    rng = np.random.default_rng(0)
    variables = {
        "f64": rng.normal(size=(5, 7)),
        "f32": rng.normal(size=(3, 4, 2)).astype(np.float32),
        "i16": rng.integers(-30000, 30000, size=(62, 33)).astype(np.int16),
        "u8": rng.integers(0, 255, size=(4, 1)).astype(np.uint8),
        "i32": rng.integers(-(2**31), 2**31 - 1, size=(2, 9)).astype(np.int32),
        "u64": np.arange(6, dtype=np.uint64).reshape(2, 3),
        "one": np.float32(2.5),  # four bytes: a small data element
        "two": np.array([[3, 4]], dtype=np.int8),  # two bytes: a small data element
        "x": np.array([[1.5]]),  # a one-letter name: a small name element
        "empty": np.zeros((0, 3)),
        "text": "a string",
        "cell": np.array([np.ones((2, 2)), np.zeros(3)], dtype=object),
        "rec": {"a": np.arange(3.0), "b": "b"},
        "z": rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2)),  # complex: scipy reads it
        "flag": np.array([[True, False]]),  # logical: scipy reads it
    }
    path = tmp_path / "mixed.mat"
    scipy.io.savemat(path, variables)
    numeric = {v.name for v in scan_mat5(path) if v.numeric}
    assert numeric == {"f64", "f32", "i16", "u8", "i32", "u64", "one", "two", "x", "empty"}
    _assert_same(path)


def _element(order: str, kind: int, payload: bytes) -> bytes:
    tag = struct.pack(f"{order}II", kind, len(payload))
    return tag + payload + bytes(-len(payload) % 8)


def _handmade(path, order: str, name: str, values: np.ndarray, mclass: int, stored: str, mi: int) -> None:
    """A MATLAB v5 file with one array written tag by tag, in either byte order, in any stored type."""
    header = b"MATLAB 5.0 MAT-file, hand-made".ljust(116) + bytes(8)
    header += struct.pack(f"{order}H", 0x0100) + (b"IM" if order == "<" else b"MI")
    body = _element(order, 6, struct.pack(f"{order}II", mclass, 0))
    body += _element(order, 5, struct.pack(f"{order}{values.ndim}i", *values.shape))
    body += _element(order, 1, name.encode())
    body += _element(order, mi, values.astype(np.dtype(stored).newbyteorder(order)).tobytes(order="F"))
    path.write_bytes(header + _element(order, 14, body))


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize(
    ("mclass", "stored", "mi"),
    [(6, "f8", 9), (7, "f4", 7), (10, "i2", 3), (6, "u1", 2), (6, "i2", 3), (7, "i4", 5)],
    ids=["double", "single", "int16", "double-as-uint8", "double-as-int16", "single-as-int32"],
)
def test_byte_orders_and_stored_types_match_scipy(tmp_path, order, mclass, stored, mi):
    values = np.arange(-12, 48).reshape(6, 10) if np.dtype(stored).kind != "u" else np.arange(60).reshape(6, 10)
    path = tmp_path / "hand.mat"
    _handmade(path, order, "trial_eeg1", values, mclass, stored, mi)
    (variable,) = scan_mat5(path)
    assert variable.numeric and variable.shape == (6, 10)
    _assert_same(path)


def test_compressed_file_falls_back_to_scipy(tmp_path):
    path = tmp_path / "zipped.mat"
    scipy.io.savemat(path, {"a_eeg1": np.arange(12.0).reshape(3, 4), "s": "text"}, do_compression=True)
    assert not any(v.numeric for v in scan_mat5(path))
    _assert_same(path)


def test_variable_selection(tmp_path):
    path = tmp_path / "two.mat"
    scipy.io.savemat(path, {"keep": np.ones((2, 2)), "drop": np.zeros((2, 2)), "s": "x"})
    container = MatV5Container(path, ["keep", "s"])
    assert sorted(container.keys()) == ["keep", "s"] and container["s"] == "x"
    with pytest.raises(KeyError):
        container["drop"]


@pytest.mark.slow
@pytest.mark.parametrize("cut", [0.6, 0.999, 100, 5])
def test_truncated_file_is_one_line_naming_it(raw_corpora, tmp_path, cut):
    source = next((raw_corpora["seed"] / "Preprocessed_EEG").glob("*_*.mat"))
    content = source.read_bytes()
    keep = int(len(content) * cut) if cut < 1 else int(cut)
    path = tmp_path / source.name
    path.write_bytes(content[:keep])
    with pytest.raises(ReaderError) as info:
        with open_container(path, "mat", f"Preprocessed_EEG/{source.name}") as container:
            for key in container.keys():
                container[key]
    message = str(info.value)
    assert message.startswith(f"Preprocessed_EEG/{source.name}: ") and "\n" not in message
    assert ("truncated" if cut < 1 else "not a MATLAB v5 file") in message


def test_file_shortened_after_opening_is_one_line(tmp_path):
    path = tmp_path / "short.mat"
    scipy.io.savemat(path, {"a_eeg1": np.ones((62, 4000))})
    with pytest.raises(ReaderError, match=r"^short\.mat: cannot read variable 'a_eeg1' \(ValueError: truncated"):
        with open_container(path, "mat", "short.mat") as container:
            path.write_bytes(path.read_bytes()[:100_000])
            from emod_data.readers.containers import read_variable

            read_variable(container, "a_eeg1", "short.mat")


@pytest.mark.slow
def test_ingest_stores_the_same_samples_as_through_scipy(raw_corpora, tmp_path, monkeypatch):
    """The default recipe writes bit-identical arrays whether the trials are mapped or read by scipy."""
    import zarr

    from emod_data.ingest import ingest
    from emod_data.readers import mat5

    raw = tmp_path / "seed" / "Preprocessed_EEG"  # one session file and the labels: 15 trials
    raw.mkdir(parents=True)
    source = raw_corpora["seed"] / "Preprocessed_EEG"
    for path in [source / "label.mat", sorted(source.glob("1_*.mat"))[0]]:
        shutil.copy(path, raw / path.name)
    mapped = ingest("seed", raw.parent, tmp_path / "mapped.zarr")

    def unsupported(path):
        raise mat5.Mat5Unsupported("forced")

    monkeypatch.setattr(mat5, "scan_mat5", unsupported)
    through_scipy = ingest("seed", raw.parent, tmp_path / "scipy.zarr")
    assert mapped.ok and through_scipy.ok and len(mapped.recordings) == len(through_scipy.recordings) == 15
    left = zarr.open_group(tmp_path / "mapped.zarr", mode="r")
    right = zarr.open_group(tmp_path / "scipy.zarr", mode="r")
    for path in mapped.recordings["path"]:
        a, b = left[path][:], right[path][:]
        assert a.dtype == b.dtype == np.float32 and np.array_equal(a, b), path


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_large_blocks_are_mapped_on_their_own():
    from emod_data.memory import map_large_blocks

    assert map_large_blocks() is True and map_large_blocks() is True  # accepted, and applied once
