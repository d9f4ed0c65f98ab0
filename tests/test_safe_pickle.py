"""Corpus pickles are loaded with a restricted unpickler: arrays and plain containers only."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from emod_data.errors import ReaderError
from emod_data.ingest import ingest
from emod_data.readers.safe_pickle import load_pickle


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_arrays_dicts_lists_and_scalars_load(tmp_path, protocol):
    value = {"data": np.arange(12, dtype=np.float32).reshape(3, 4), "labels": [1, 2.5, "x", (3, None)],
             "n": np.int64(7), "flag": True}  # fmt: skip
    path = tmp_path / "ok.pkl"
    path.write_bytes(pickle.dumps(value, protocol=protocol))
    loaded = load_pickle(path)
    np.testing.assert_array_equal(loaded["data"], value["data"])
    assert loaded["labels"] == value["labels"] and loaded["n"] == 7 and loaded["flag"] is True


def test_reduce_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.dat"
    path.write_bytes(pickle.dumps({"data": np.zeros(3), "labels": _Payload(marker)}, protocol=2))
    with pytest.raises(ReaderError, match=r"evil.dat: refused pickle: it references (posix|os)\.system"):
        load_pickle(path)
    assert not marker.exists()


@pytest.mark.slow
def test_ingest_refuses_a_malicious_deap_file_and_keeps_the_others(raw_corpora, tmp_path):
    raw = tmp_path / "deap"
    shutil.copytree(raw_corpora["deap"], raw)
    marker = tmp_path / "ran"
    target = sorted(raw.rglob("s02.dat"))[0]
    target.write_bytes(pickle.dumps({"data": np.zeros((40, 40, 10)), "labels": _Payload(marker)}, protocol=2))
    report = ingest("deap", raw, tmp_path / "s.zarr")
    assert not marker.exists()
    assert report.failures["stage"].tolist() == ["read"]
    assert "s02.dat: refused pickle" in report.failures["error"].iloc[0]
    assert set(report.recordings["subject"]) == {"01"}
