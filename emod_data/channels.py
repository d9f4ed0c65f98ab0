"""The global channel vocabulary and channel-name canonicalisation.

Every corpus' channel names are mapped into one vocabulary: the electrode names
of the 10-05 system as spelled by MNE's standard montage (``standard_1005``,
called ``colin27_1005`` in newer MNE), minus the old 10-20 names T3/T4/T5/T6
(canonicalised to T7/T8/P7/P8), plus extra entries for sites outside the
system (SEED's cerebellar CB1/CB2). Id 0 is reserved for a masked or padded
channel; the vocabulary's ids are fixed by the shipped table
``emod_data/data/channel_vocabulary.tsv`` so they never depend on the MNE
version.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from emod_data.errors import ChannelError

VOCABULARY_FILE = Path(__file__).resolve().parent / "data" / "channel_vocabulary.tsv"

OLD_NAMES = {"T3": "T7", "T4": "T8", "T5": "P7", "T6": "P8"}
"""Old 10-20 names and their modern 10-10 equivalents."""

EXTRA_SITES = {"CB1": "I1", "CB2": "I2"}
"""Sites outside the 10-05 system and the 10-05 site whose position approximates theirs."""


def build_vocabulary() -> pd.DataFrame:
    """Build the channel vocabulary from MNE's standard 10-05 montage.

    Used to (re)generate the shipped vocabulary table; everyday code reads the
    shipped table through :func:`load_vocabulary` so ids stay stable.

    Returns
    -------
    pandas.DataFrame
        Columns ``id`` (1-based; 0 is reserved for padding), ``name``, ``x``,
        ``y``, ``z`` (metres, MNE head coordinates) and ``position_source``.
    """
    import warnings

    import mne

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            montage = mne.channels.make_standard_montage("colin27_1005")
        except ValueError:
            montage = mne.channels.make_standard_montage("standard_1005")
    positions = montage.get_positions()["ch_pos"]
    rows = [(name, *positions[name], "MNE standard_1005") for name in montage.ch_names if name not in OLD_NAMES]
    rows += [(extra, *positions[site], f"approximated by 10-05 {site}") for extra, site in EXTRA_SITES.items()]
    table = pd.DataFrame(rows, columns=["name", "x", "y", "z", "position_source"])
    table.insert(0, "id", np.arange(1, len(table) + 1, dtype=np.int16))
    return table


@functools.cache
def load_vocabulary() -> pd.DataFrame:
    """Return the global channel vocabulary shipped with the package.

    Returns
    -------
    pandas.DataFrame
        One row per canonical channel: ``id``, ``name``, ``x``, ``y``, ``z``,
        ``position_source``. Treat it as read-only.
    """
    return pd.read_csv(VOCABULARY_FILE, sep="\t", dtype={"id": np.int16})


@functools.cache
def _by_folded_name() -> dict[str, tuple[str, int]]:
    vocab = load_vocabulary()
    return {name.upper(): (name, int(i)) for name, i in zip(vocab["name"], vocab["id"], strict=True)}


def canonical_name(name: str) -> str | None:
    """Canonicalise one channel name.

    Matching ignores case and surrounding spaces, and the old 10-20 names
    T3/T4/T5/T6 become T7/T8/P7/P8.

    Parameters
    ----------
    name : str
        A channel name as written in a corpus (``"FP1"``, ``"fp1 "``, ``"T3"``).

    Returns
    -------
    str or None
        The vocabulary's spelling (``"Fp1"``, ``"T7"``), or None when the name
        is not in the vocabulary.
    """
    folded = name.strip().upper()
    folded = OLD_NAMES.get(folded, folded)
    hit = _by_folded_name().get(folded)
    return hit[0] if hit else None


def channel_ids(names: list[str]) -> np.ndarray:
    """Vocabulary ids of canonical channel names.

    Parameters
    ----------
    names : list of str
        Canonical names (as returned by :func:`canonical_name`).

    Returns
    -------
    numpy.ndarray
        int16 ids, in the order of ``names``.
    """
    lookup = _by_folded_name()
    return np.array([lookup[n.upper()][1] for n in names], dtype=np.int16)


def channel_positions(names: list[str]) -> np.ndarray:
    """3-D positions (metres, MNE head coordinates) of channel names.

    Parameters
    ----------
    names : list of str
        Channel names in any spelling :func:`canonical_name` understands.

    Returns
    -------
    numpy.ndarray
        Array of shape (len(names), 3).

    Raises
    ------
    ChannelError
        When a name is not in the vocabulary.
    """
    vocab = load_vocabulary().set_index("name")
    canonical = []
    for name in names:
        hit = canonical_name(name)
        if hit is None:
            raise ChannelError(f"channel '{name}' is not in the channel vocabulary")
        canonical.append(hit)
    return vocab.loc[canonical, ["x", "y", "z"]].to_numpy(dtype=float)


@dataclass(frozen=True)
class ChannelPlan:
    """Which source rows are kept and what they are called in the store.

    Attributes
    ----------
    source_index : numpy.ndarray
        Row indices, into the file's channel axis, of the channels kept.
    names : list of str
        Canonical names of the kept channels, in stored order.
    ids : numpy.ndarray
        Vocabulary ids of the kept channels (int16).
    excluded : list of str
        Source names dropped on the manifest's instruction.
    """

    source_index: np.ndarray
    names: list[str]
    ids: np.ndarray
    excluded: list[str]


def montage(names: list[str]):
    """An MNE ``DigMontage`` of channel names at their :func:`channel_positions` (head coordinates)."""
    import mne

    positions = channel_positions(list(names))
    return mne.channels.make_dig_montage(ch_pos=dict(zip(names, positions, strict=True)), coord_frame="head")


def plan_channels(names: list[str], rename: dict[str, str], exclude: list[str], where: str) -> ChannelPlan:
    """Canonicalise a corpus' channel list once, before any file is read.

    Parameters
    ----------
    names : list of str
        Channel names in the order of the file's channel axis.
    rename : dict
        Corpus-specific aliases (source name -> vocabulary name).
    exclude : list of str
        Source names to drop (non-EEG channels, references).
    where : str
        What to name in error messages (usually the manifest path).

    Returns
    -------
    ChannelPlan

    Raises
    ------
    ChannelError
        When a name is neither in the vocabulary, nor mapped, nor excluded, or
        when two source channels end up with the same canonical name.
    """
    kept, canonical, dropped = [], [], []
    for index, name in enumerate(names):
        if name in exclude:
            dropped.append(name)
            continue
        target = canonical_name(rename.get(name, name))
        if target is None:
            raise ChannelError(
                f"{where}: channel '{name}' is not in the channel vocabulary; map it in "
                "[channels.rename] or list it in channels.exclude"
            )
        if target in canonical:
            first = names[kept[canonical.index(target)]]
            raise ChannelError(f"{where}: channels '{first}' and '{name}' both map to '{target}'")
        kept.append(index)
        canonical.append(target)
    return ChannelPlan(np.array(kept, dtype=np.intp), canonical, channel_ids(canonical), dropped)
