"""Readers: raw files in, trials (channels x samples, source units) out.

A reader is chosen by the manifest's ``format.container``, a name of the one
registry :data:`~emod_data.readers.base.CONTAINERS`. For variable containers
(MATLAB v5 / v7.3, pickles) the reader is the container plus a layout (where the
trials are inside it, :mod:`~emod_data.readers.layouts`), so a corpus in a known
format needs only a manifest; continuous recordings are read through MNE
(:mod:`~emod_data.readers.mne_raw`). Every reader yields
:class:`~emod_data.readers.base.RawTrial` objects for one source file.

Names are imported on first use, so :mod:`emod_data.manifest` can import the
registry without importing the readers.
"""

from __future__ import annotations

from emod_data.lazy import lazy_exports

_EXPORTS = {
    "emod_data.readers.base": "CONTAINERS CONTINUOUS_CONTAINERS Container RawTrial get_reader read_trials",
    "emod_data.readers.layouts": "iter_trials",
    "emod_data.readers.containers": "open_container read_variable",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
