"""Streaming windows: regions, window tables, the signal cache, the dataset, loaders and samplers."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from emod_data.store import open_store
from emod_train.data.cache import SignalCache, fingerprint
from emod_train.data.dataset import Batch, WindowDataset, WindowLoader, collate_batch
from emod_train.data.samplers import SequentialBatchSampler, ShuffledBatchSampler
from emod_train.data.windows import va_region, window_table
from emod_train.errors import DataError
from emod_train.methods.emod.sampler import StructuredBatchSampler

pytestmark = pytest.mark.slow  # synthesizes and ingests or trains: left out of the quick loop


@pytest.fixture(scope="module")
def store(store_all):
    return open_store(store_all)


@pytest.fixture(scope="module")
def table(store):
    return window_table(store, 1.0)


@pytest.fixture(scope="module")
def cache(store, table, tmp_path_factory):
    return SignalCache.build(store, table["recording_id"].unique(), tmp_path_factory.mktemp("cache"))


def test_va_region_grid():
    valence = np.array([-4, -2.5, -2, -1.5, 0, 1.9, 2, 4, 0, np.nan])
    arousal = np.array([-4, -4, 0, 0, 0, 0, 4, 4, 3.2, 0])
    # floor to the integer level, bins -4..-2 / -1..1 / 2..4, region = v + 3 a
    assert va_region(valence, arousal).tolist() == [0, 0, 3, 3, 4, 4, 8, 8, 7, -1]
    # SEED's classes: negative (-1.25, 1.5), neutral (0, 0), positive (2.5, 1.5)
    assert va_region([-1.25, 0, 2.5], [1.5, 0, 1.5]).tolist() == [3, 4, 5]


def test_window_table(store, table):
    assert {"n_channels", "region", "start", "stop", "valence", "arousal"} <= set(table.columns)
    assert ((table["stop"] - table["start"]) == 200).all()
    assert set(table.loc[table["corpus"] == "deap", "n_channels"]) == {32}
    assert set(table.loc[table["corpus"] == "seed", "n_channels"]) == {62}
    assert window_table(store, 1.0, corpora=["seed"])["corpus"].unique().tolist() == ["seed"]
    with pytest.raises(DataError, match="corpus 'faced' is not in the store"):
        window_table(store, 1.0, corpora=["faced"])
    with pytest.raises(DataError, match="no 1000 s window"):
        window_table(store, 1000.0)


def test_cache_matches_the_store_and_is_reused(store, table, cache, tmp_path):
    assert cache.nbytes == 4 * sum(cache.n_channels * cache.n_samples)
    for position in (0, len(cache) // 2, len(cache) - 1):
        rid = cache.recording_ids[position]
        np.testing.assert_array_equal(cache.recording(position), store.read(rid))
    again = SignalCache.build(store, table["recording_id"].unique(), cache.folder.parent)
    assert again.folder == cache.folder and again.meta["build_seconds"] == cache.meta["build_seconds"]
    # another selection, another fingerprint
    other = fingerprint(store.processing.hash, store.recordings.iloc[:3])
    assert other != cache.folder.name
    with pytest.raises(DataError, match="not in the store"):
        SignalCache.build(store, ["seed/sub-9/ses-9/trial-99"], tmp_path)


def test_cache_refuses_a_truncated_file(store, tmp_path):
    built = SignalCache.build(store, store.recordings["recording_id"].iloc[:2], tmp_path)
    data = built.folder / SignalCache.DATA
    data.write_bytes(data.read_bytes()[:-4])
    with pytest.raises(DataError, match="expected"):
        SignalCache(built.folder)


def test_dataset_reads_the_right_windows(store, table, cache):
    with_cache = WindowDataset(table, store, cache)
    direct = WindowDataset(table, store, None)
    for i in (0, 7, len(table) - 1):
        row = table.iloc[i]
        expected = store.read(row["recording_id"], int(row["start"]), int(row["stop"]))
        np.testing.assert_array_equal(with_cache.read(i), expected)
        np.testing.assert_array_equal(direct[i]["x"].numpy(), expected)
        item = with_cache[i]
        ids = store.recordings.set_index("recording_id").loc[row["recording_id"], "channel_ids"]
        assert item["channel_ids"].tolist() == list(ids)


def test_getitems_groups_by_channel_count(store, table, cache):
    dataset = WindowDataset(table, store, cache, labels=np.arange(len(table)) % 3)
    deap = np.flatnonzero(table["corpus"] == "deap")[:3]
    seed = np.flatnonzero(table["corpus"] == "seed")[:4]
    batch = dataset.__getitems__([int(seed[0]), int(deap[0]), int(seed[1]), int(deap[1]), int(seed[2])])
    assert isinstance(batch, Batch) and len(batch) == 5
    assert [tuple(p.x.shape) for p in batch.parts] == [(3, 62, 200), (2, 32, 200)]
    assert batch.index.tolist() == [int(seed[0]), int(seed[1]), int(seed[2]), int(deap[0]), int(deap[1])]
    for part in batch.parts:
        for row, i in enumerate(part.index.tolist()):
            np.testing.assert_array_equal(part.x[row].numpy(), dataset.read(i))
    np.testing.assert_array_equal(batch.labels.numpy(), np.asarray(batch.index) % 3)
    np.testing.assert_array_equal(batch.va.numpy(), dataset.va[batch.index.numpy()])


def test_dataset_pickles_without_open_handles(store, table, cache):
    dataset = WindowDataset(table, store, cache)
    dataset.read(0)
    clone = pickle.loads(pickle.dumps(dataset))
    assert clone.cache._map is None and clone._store is None
    np.testing.assert_array_equal(clone.read(3), dataset.read(3))


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_dataloader_workers(store, table, cache, context):
    dataset = WindowDataset(table.iloc[:40].reset_index(drop=True), store, cache)
    sampler = SequentialBatchSampler(len(dataset), 16)
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=sampler, collate_fn=collate_batch, num_workers=1,
        multiprocessing_context=context,
    )  # fmt: skip
    seen = []
    for batch in loader:
        for part in batch.parts:
            for row, i in enumerate(part.index.tolist()):
                np.testing.assert_array_equal(part.x[row].numpy(), dataset.read(i))
                seen.append(i)
    assert sorted(seen) == list(range(40))


def test_thread_loader_keeps_sampler_order(store, table, cache):
    dataset = WindowDataset(table, store, cache)
    sampler = ShuffledBatchSampler(len(dataset), 8, seed=4)
    sampler.set_epoch(2)
    expected = sampler.batches()
    for workers in (0, 2):
        got = [sorted(b.index.tolist()) for b in WindowLoader(dataset, sampler, workers=workers)]
        assert got == [sorted(b) for b in expected]


def test_structured_sampler_composition(table):
    labelled = table[table["region"] >= 0].reset_index(drop=True)
    corpus, region = labelled["corpus"].to_numpy(), labelled["region"].to_numpy()
    sampler = StructuredBatchSampler(corpus, region, rounds=2, seed=0)
    cells = {(c, r) for c, r in zip(corpus, region, strict=True)}
    assert sampler.batch_size == 2 * len(cells)
    batches = sampler.batches()
    assert len(batches) == sampler.num_batches == int(np.ceil(len(labelled) / sampler.batch_size))
    for batch in batches:
        drawn = [(corpus[i], region[i]) for i in batch]
        # every non-empty (corpus, region) cell gives exactly `rounds` windows to every batch
        assert {cell: drawn.count(cell) for cell in cells} == dict.fromkeys(cells, 2)
    # SEED has 3 classes, so 3 regions per round
    seed_cells = {r for c, r in cells if c == "seed"}
    assert seed_cells == {3, 4, 5}
    rounds = StructuredBatchSampler.rounds_for(corpus, region, 288)
    assert rounds == max(1, round(288 / len(cells)))


def test_structured_sampler_draws_without_replacement_within_a_cell(table):
    corpus = np.array(["a"] * 6 + ["b"] * 3)
    region = np.array([0, 0, 0, 4, 4, 4, 8, 8, 8])
    sampler = StructuredBatchSampler(corpus, region, rounds=1, num_batches=3, seed=1)
    batches = sampler.batches()
    for cell in ([0, 1, 2], [3, 4, 5], [6, 7, 8]):
        assert sorted(i for b in batches for i in b if i in cell) == cell


def test_structured_sampler_released_mode_fills_empty_regions_from_the_next():
    """Released mode: 9 draws per corpus and round; an empty region takes the next non-empty one's windows."""
    corpus = np.array(["a"] * 9 + ["b"] * 4)
    region = np.array([0, 0, 0, 4, 4, 4, 8, 8, 8, 2, 2, 7, 7])
    sampler = StructuredBatchSampler(corpus, region, rounds=4, num_batches=2, seed=0, mode="released")
    assert sampler.batch_size == 2 * 4 * 9  # 36 windows per corpus
    for batch in sampler.batches():
        drawn_a = [int(region[i]) for i in batch if corpus[i] == "a"]
        drawn_b = [int(region[i]) for i in batch if corpus[i] == "b"]
        # a: regions 0 (slot 0), 4 (slots 1-4), 8 (slots 5-8) per round; b: 2 (slots 0-2, 8), 7 (slots 3-7)
        assert {r: drawn_a.count(r) for r in (0, 4, 8)} == {0: 4, 4: 16, 8: 16}
        assert {r: drawn_b.count(r) for r in (2, 7)} == {2: 16, 7: 20}
    skip = StructuredBatchSampler(corpus, region, rounds=4, seed=0)
    assert skip.batch_size == 4 * 5
    with pytest.raises(ValueError, match="mode must be one of"):
        StructuredBatchSampler(corpus, region, mode="nope")


def test_samplers_are_deterministic_and_resumable(table):
    labelled = table[table["region"] >= 0]
    make = lambda: StructuredBatchSampler(labelled["corpus"], labelled["region"], rounds=1, seed=3)  # noqa: E731
    a, b = make(), make()
    a.set_epoch(1)
    b.set_epoch(1)
    assert list(a) == list(b)
    b.set_epoch(2)
    assert list(a) != list(b)
    full = a.batches()
    a.set_epoch(1, start_batch=2)
    assert list(a) == full[2:] and len(a) == len(full) - 2
    shuffled = ShuffledBatchSampler(10, 4, seed=0)
    shuffled.set_epoch(0)
    assert sorted(i for b in shuffled for i in b) == list(range(10))
    assert ShuffledBatchSampler(10, 4, drop_last=True).num_batches == 2
    with pytest.raises(DataError, match="valence-arousal"):
        StructuredBatchSampler(["a", "b"], [-1, -1])


def test_window_cache(store, table, tmp_path):
    from emod_train.data.cache import WindowCache, build_cache

    cache = build_cache(store, table, tmp_path)
    assert isinstance(cache, WindowCache) and len(cache) == len(table)
    assert cache.counts == table["n_channels"].value_counts().to_dict()
    dataset = WindowDataset(table, store, cache)
    reference = WindowDataset(table, store, None)
    picks = [0, 5, len(table) // 2, len(table) - 1]
    for i in picks:
        np.testing.assert_array_equal(dataset.read(i), reference.read(i))
    batch = dataset.__getitems__(picks)
    for part in batch.parts:
        for row, i in enumerate(part.index.tolist()):
            np.testing.assert_array_equal(part.x[row].numpy(), reference.read(i))
    clone = pickle.loads(pickle.dumps(dataset))
    np.testing.assert_array_equal(clone.read(picks[1]), reference.read(picks[1]))
    assert build_cache(store, table, tmp_path).folder == cache.folder  # reused
    overlapping = window_table(store, 1.0, stride=0.5, corpora=["seed"])
    assert not isinstance(build_cache(store, overlapping, tmp_path), WindowCache)
    other = window_table(store, 0.5, corpora=["seed"])
    with pytest.raises(DataError, match="not in this cache"):
        WindowDataset(other, store, cache)
    (cache.folder / "windows-62ch.f32").write_bytes(b"")
    with pytest.raises(DataError, match="expected"):
        WindowCache(cache.folder)
