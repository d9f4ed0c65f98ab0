"""emod_data: harmonized, quality-checked EEG emotion corpora in one store.

The data-first half of the toolkit. It reads raw corpora as their manifests
describe, harmonises channels, units, filters, rate and labels, and writes a
zarr store with parquet tables. It never imports torch.

The main entry points are importable from the package itself (loaded lazily)::

    import emod_data

    report = emod_data.ingest("seed", "~/data/SEED", "~/emod.zarr")
    store = emod_data.open_store("~/emod.zarr")
"""

from __future__ import annotations

from emod_data.lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "emod_data.store": "open_store Store",
    "emod_data.ingest": "ingest IngestReport",
    "emod_data.manifest": "load_manifest available_manifests",
    "emod_data.lexicon": "load_lexicon",
    "emod_data.config": "ProcessingConfig load_config",
    "emod_data.synth": "synthesize",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
