"""emod_data: harmonized, quality-checked EEG emotion corpora in one store.

The data-first half of the toolkit. It reads raw corpora as their manifests
describe, harmonises channels, units, filters, rate and labels, and writes a
zarr store with parquet tables. It never imports torch.
"""

__version__ = "0.1.0"
