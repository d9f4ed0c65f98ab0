"""Whole-shard encoding: a stored array's one shard built in a single pass, for a single write.

Every stored segment is one zarr v3 array of one shard (all its samples) cut into chunks of
``chunk_seconds``. ``array[:] = data`` makes zarr run each chunk through its asynchronous codec
pipeline and assemble the shard from the pieces, which costs about as much CPU as the compression
itself. :func:`encode_shard` produces the same bytes directly, following the zarr v3
``sharding_indexed`` layout the array's metadata declares: each chunk (padded with the fill value at
the end) as little-endian float32, Blosc-compressed, followed by its CRC32C; then the shard index
(offset and length of every chunk, uint64 little-endian) and its own CRC32C. The result is checked
byte for byte against zarr's own write in the tests, and :func:`shard_layout` accepts only arrays
whose metadata is exactly that layout, so anything else is written by zarr as before.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

_LITTLE_BYTES = {"name": "bytes", "configuration": {"endian": "little"}}
_CRC32C = {"name": "crc32c"}


@dataclass(frozen=True)
class ShardLayout:
    """How the one shard of a 2-D float32 array is laid out.

    Attributes
    ----------
    key : str
        The shard's key below the array (``c/0/0``).
    chunk_samples : int
        Samples (along the last axis) per chunk; a chunk spans every row.
    chunks : int
        Chunks in the shard.
    fill_value : float
        Value padding the last chunk beyond the array's end.
    blosc : dict
        The Blosc codec's configuration (``cname``, ``clevel``, ``shuffle``, ``blocksize``, ``typesize``).
    """

    key: str
    chunk_samples: int
    chunks: int
    fill_value: float
    blosc: dict

    def compressor(self):
        """The numcodecs Blosc codec with this layout's configuration."""
        from numcodecs import Blosc

        shuffle = {"noshuffle": Blosc.NOSHUFFLE, "shuffle": Blosc.SHUFFLE, "bitshuffle": Blosc.BITSHUFFLE}
        return Blosc(
            cname=self.blosc["cname"],
            clevel=self.blosc["clevel"],
            shuffle=shuffle[self.blosc["shuffle"]],
            blocksize=self.blosc["blocksize"],
        )


def shard_layout(metadata) -> ShardLayout | None:
    """The layout of an array that :func:`encode_shard` can write, or None for any other array.

    Accepted: zarr v3, float32, two dimensions, one shard holding the whole array, chunks that span
    all rows, inner codecs ``bytes`` (little-endian), ``blosc`` (type size 4), ``crc32c``, index codecs
    ``bytes`` (little-endian), ``crc32c``, index at the end.

    Parameters
    ----------
    metadata : zarr.core.metadata.ArrayV3Metadata
        ``array.metadata`` of a created array.
    """
    meta = json.loads(json.dumps(metadata.to_dict(), default=str))  # plain lists and dicts, as in zarr.json
    shape = tuple(meta.get("shape", ()))
    codecs = meta.get("codecs", [])
    if meta.get("zarr_format") != 3 or meta.get("data_type") != "float32" or len(shape) != 2 or 0 in shape:
        return None
    if len(codecs) != 1 or codecs[0].get("name") != "sharding_indexed":
        return None
    sharding = codecs[0]["configuration"]
    shard = tuple(meta["chunk_grid"]["configuration"]["chunk_shape"])
    chunk = tuple(sharding["chunk_shape"])
    inner = sharding["codecs"]
    if shard[1] < shape[1] or shard[0] != shape[0] or chunk[0] != shape[0] or shard[1] % chunk[1]:
        return None
    if len(inner) != 3 or inner[0] != _LITTLE_BYTES or inner[1].get("name") != "blosc" or inner[2] != _CRC32C:
        return None
    if sharding["index_codecs"] != [_LITTLE_BYTES, _CRC32C] or sharding["index_location"] != "end":
        return None
    blosc = inner[1]["configuration"]
    if blosc.get("typesize") != 4 or blosc.get("shuffle") not in ("noshuffle", "shuffle", "bitshuffle"):
        return None
    return ShardLayout(
        key=metadata.encode_chunk_key((0, 0)),
        chunk_samples=chunk[1],
        chunks=shard[1] // chunk[1],
        fill_value=float(metadata.fill_value),
        blosc=dict(blosc),
    )


def _crc32c(data) -> bytes:
    import google_crc32c

    return struct.pack("<I", google_crc32c.value(data))


def encode_shard(data: np.ndarray, layout: ShardLayout) -> Iterator[bytes]:
    """Encode a (rows, samples) array into the bytes of its shard file, chunk by chunk.

    Parameters
    ----------
    data : numpy.ndarray
        The whole array, any float dtype castable to float32 without loss (it is cast per chunk).
    layout : ShardLayout
        From :func:`shard_layout` of the array's metadata.

    Yields
    ------
    bytes
        The parts of the shard file, in order (their concatenation is the file): per chunk its
        compressed bytes and CRC32C, then the index and its CRC32C. Each chunk is encoded when the
        previous part has been taken, so a writer that writes parts as they come holds one chunk.

    Raises
    ------
    ValueError
        The array is longer than the layout's shard (raised on the first part).
    """
    rows, samples = data.shape
    step = layout.chunk_samples
    if math.ceil(samples / step) > layout.chunks:
        raise ValueError(f"{samples} samples do not fit a shard of {layout.chunks} chunks of {step}")
    codec = layout.compressor()
    index = np.empty((layout.chunks, 2), dtype="<u8")
    offset = 0
    block = np.empty((rows, step), dtype="<f4")
    for number in range(layout.chunks):
        piece = data[:, number * step : (number + 1) * step]
        block[:, : piece.shape[1]] = piece
        block[:, piece.shape[1] :] = layout.fill_value
        encoded = codec.encode(block)
        yield encoded
        yield _crc32c(encoded)
        index[number] = offset, len(encoded) + 4
        offset += len(encoded) + 4
    index_bytes = index.tobytes()
    yield index_bytes
    yield _crc32c(index_bytes)
