"""Where a store lives: local folders and fsspec URLs, and the strict zarr store every array is read through.

A store location is a local path or an fsspec URL (``s3://bucket/emod.zarr``, ``memory://emod.zarr``,
``gs://...``) with optional fsspec ``storage_options`` (endpoint, credentials). Arrays are opened through
:class:`StrictStore`, which turns a missing or empty chunk (shard) file into an error instead of
letting zarr fill the array with its fill value.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from emod_data.errors import EmodDataError, StoreError


class MissingChunkError(FileNotFoundError):
    """A chunk (shard) file of an array is missing or empty."""


def is_url(path: str | Path) -> bool:
    """True when ``path`` is an fsspec URL (``s3://...``) rather than a local path."""
    text = str(path)
    return "://" in text and not text.startswith("file://")


def local_path(path: str | Path) -> Path:
    """The local folder of a path or ``file://`` URL (``~`` expanded, made absolute)."""
    text = str(path)
    if text.startswith("file://"):
        text = text[len("file://") :]
    return Path(text).expanduser().absolute()


def filesystem(path: str | Path, storage_options: dict | None = None):
    """(fsspec filesystem, path inside it) of a local path or an fsspec URL.

    Raises
    ------
    StoreError
        The URL's protocol has no installed fsspec backend, or its options are refused.
    """
    import fsspec

    try:
        return fsspec.core.url_to_fs(str(path), **(storage_options or {}))
    except (ImportError, ValueError, TypeError) as exc:
        raise StoreError(f"{path}: cannot open this store location ({type(exc).__name__}: {exc})") from None


def parse_storage_options(items: list[str] | None) -> dict:
    """``KEY=VALUE`` strings (``--storage-option``) as a dict of fsspec storage options.

    Values ``true``/``false`` become booleans and integers become ints; a key with dots
    (``client_kwargs.endpoint_url=http://...``) sets a nested option.

    Raises
    ------
    ValueError
        An item without ``=``.
    """
    options: dict = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected KEY=VALUE (got {item!r})")
        parsed: object = value
        if value.lower() in ("true", "false"):
            parsed = value.lower() == "true"
        elif value.lstrip("-").isdigit():
            parsed = int(value)
        *parents, leaf = key.strip().split(".")
        target = options
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = parsed
    return options


def _is_chunk_key(key: str) -> bool:
    return key.startswith("c/") or "/c/" in key


def _strict_store_class():
    from zarr.storage import WrapperStore

    class StrictStore(WrapperStore):
        """A zarr store wrapper that raises :class:`MissingChunkError` for a missing or empty chunk file."""

        async def get(self, key, prototype, byte_range=None):
            value = await self._store.get(key, prototype, byte_range)
            if _is_chunk_key(key) and (value is None or len(value) == 0):
                raise MissingChunkError(f"chunk file {key} is missing or empty")
            return value

        async def get_partial_values(self, prototype, key_ranges):
            key_ranges = list(key_ranges)
            values = await self._store.get_partial_values(prototype, key_ranges)
            for (key, _), value in zip(key_ranges, values, strict=True):
                if _is_chunk_key(key) and (value is None or len(value) == 0):
                    raise MissingChunkError(f"chunk file {key} is missing or empty")
            return values

    return StrictStore


def zarr_store(path: str | Path, storage_options: dict | None = None, read_only: bool = True):
    """A zarr store object for a store location; read-only ones are strict about missing chunks.

    Parameters
    ----------
    path : str or path-like
        Local folder or fsspec URL.
    storage_options : dict, optional
        fsspec options of a URL (ignored for local folders).
    read_only : bool
        Open for reading (wrapped in the strict store) or for writing.
    """
    from zarr.storage import FsspecStore, LocalStore

    if is_url(path):
        try:
            base = FsspecStore.from_url(str(path), storage_options=storage_options or None, read_only=read_only)
        except (ImportError, ValueError, TypeError) as exc:
            raise StoreError(f"{path}: cannot open this store location ({type(exc).__name__}: {exc})") from None
    else:
        base = LocalStore(local_path(path), read_only=read_only)
    return _strict_store_class()(base) if read_only else base


def write_file(path: str | Path, key: str, parts: Iterable[bytes], storage_options: dict | None = None) -> None:
    """Write one file of a store from its parts, in order: a local file part by part, or one PUT of an object.

    Parameters
    ----------
    path : str or path-like
        Local store folder or fsspec URL.
    key : str
        The file's key inside the store (``data/seed/sub-1/ses-1/trial-01/c/0/0``); local parent folders are made.
    parts : iterable of bytes
        The file's contents, in order (a local file holds only the part being written).
    storage_options : dict, optional
        fsspec options of a URL.
    """
    if is_url(path):
        fs, root = filesystem(path, storage_options)
        fs.pipe_file(f"{root}/{key}", b"".join(parts))
        return
    target = local_path(path) / key
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as handle:
        handle.writelines(parts)


def remove_tree(path: str | Path, key: str, storage_options: dict | None = None) -> None:
    """Delete ``key`` (a file or a folder with everything below it) inside a store; absent is fine."""
    import shutil

    if not is_url(path):
        target = local_path(path) / key
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)
        return
    fs, root = filesystem(path, storage_options)
    try:
        fs.rm(f"{root}/{key}", recursive=True)
    except FileNotFoundError:
        pass


@contextmanager
def location_errors(path: str | Path, doing: str, pass_missing: bool = False) -> Iterator[None]:
    """Turn errors of a storage backend into one-line StoreErrors naming the location.

    Any exception (no credentials, unreachable endpoint, missing bucket) becomes
    ``StoreError("<path>: cannot <doing> (<type>: <first line>)")``; emod errors pass through, and
    so does ``FileNotFoundError`` with ``pass_missing=True`` (an absent key the caller handles).
    """
    try:
        yield
    except EmodDataError:
        raise
    except FileNotFoundError as exc:
        if pass_missing:
            raise
        raise StoreError(f"{path}: cannot {doing} (FileNotFoundError: {exc})") from None
    except Exception as exc:
        lines = str(exc).strip().splitlines()
        reason = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
        raise StoreError(f"{path}: cannot {doing} ({reason})") from None
