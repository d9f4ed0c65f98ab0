"""Exception types raised by emod_data.

Every error carries a one-line message that names the file (manifest, raw file
or store) and the problem, so that the command line can print it as is.
"""


class EmodDataError(Exception):
    """Base class of every error raised on purpose by emod_data."""


class ManifestError(EmodDataError):
    """A manifest or the valence-arousal lexicon is missing or invalid."""


class ReaderError(EmodDataError):
    """A raw file cannot be read or does not have the layout its manifest declares."""


class ChannelError(EmodDataError):
    """A channel name is not in the vocabulary and the manifest neither maps nor excludes it."""


class LabelError(EmodDataError):
    """Labels are missing or inconsistent with the manifest or the lexicon."""


class SignalError(EmodDataError):
    """A signal fails a sanity check (NaN, implausible amplitude, too short to process)."""


class StoreError(EmodDataError):
    """A store is missing, of another version, or was made with other processing parameters."""


class SkippedInput(EmodDataError):
    """A source file that is not an input by design (a MAHNOB-HCI session without felt ratings).

    Raised by a reader before it yields any trial; the ingest counts the file as skipped instead of failed.
    """


class ClusterError(EmodDataError):
    """A Dask scheduler cannot be reached, has no workers, or lost all of them during a run."""


def first_line(exc: BaseException, with_type: bool = False) -> str:
    """The first line of an exception's message, for one-line errors.

    Parameters
    ----------
    exc : BaseException
        The exception.
    with_type : bool
        Prefix the exception's class name (``"ValueError: ..."``).

    Returns
    -------
    str
        The first non-empty line of ``str(exc)``; the class name alone when the message is empty.
    """
    lines = str(exc).strip().splitlines()
    if not lines:
        return type(exc).__name__
    return f"{type(exc).__name__}: {lines[0]}" if with_type else lines[0]
