"""Readers: raw files in, trials (channels x samples, source units) out.

A reader is a container (how a file is parsed) plus a layout (where the trials
are inside it); both are chosen by the manifest's ``[format]`` section, so a
corpus in a known format needs only a manifest.
"""

from emod_data.readers.containers import open_container, read_variable
from emod_data.readers.layouts import RawTrial, iter_trials

__all__ = ["RawTrial", "iter_trials", "open_container", "read_variable"]
