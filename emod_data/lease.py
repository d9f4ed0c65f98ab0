"""Single-writer leases for stores on object storage, which has no file locks.

An ingest into an fsspec URL writes ``tables/.ingest-<corpus>.lease`` (JSON: owner, host, pid,
expiry) before it writes anything else of the corpus, renews it after every finished file and
deletes it at the end. A second ingest of the corpus that finds an unexpired lease held by
another owner stops with a one-line :class:`~emod_data.errors.StoreError`. A lease left by a
killed ingest expires after :data:`LEASE_SECONDS`. Object stores without conditional writes
cannot make the claim itself atomic: two ingests started within the same second can both
take it, so start one writer per corpus (the documented rule) and let the lease catch mistakes.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from emod_data.errors import StoreError
from emod_data.storage import filesystem

LEASE_SECONDS = 600.0
"""How long a lease stays valid after its last renewal."""


def lease_key(corpus: str) -> str:
    """Key of a corpus' lease object inside the store."""
    return f"tables/.ingest-{corpus}.lease"


class Lease:
    """A held lease; :meth:`renew` pushes its expiry forward."""

    def __init__(self, store: str | Path, corpus: str, storage_options: dict | None, seconds: float) -> None:
        self.fs, root = filesystem(store, storage_options)
        self.store, self.corpus, self.seconds = store, corpus, seconds
        self.key = f"{root}/{lease_key(corpus)}"
        self.owner = uuid.uuid4().hex

    def _read(self) -> dict | None:
        try:
            return json.loads(self.fs.cat_file(self.key))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}

    def acquire(self) -> None:
        """Take the lease, or raise StoreError when another owner holds an unexpired one."""
        held = self._read()
        if held and held.get("owner") != self.owner and float(held.get("expires", 0)) > time.time():
            raise StoreError(
                f"{self.store}: another ingest of corpus '{self.corpus}' holds the lease "
                f"({held.get('host')} pid {held.get('pid')}, expires in {float(held['expires']) - time.time():.0f} s)"
            )
        self.renew()
        if (self._read() or {}).get("owner") != self.owner:
            raise StoreError(f"{self.store}: another ingest of corpus '{self.corpus}' took the lease at the same time")

    def renew(self) -> None:
        """Write the lease with a new expiry."""
        record = {"owner": self.owner, "host": socket.gethostname(), "pid": os.getpid()}
        record["expires"] = time.time() + self.seconds
        try:
            self.fs.pipe_file(self.key, json.dumps(record).encode())
        except OSError as exc:
            raise StoreError(f"{self.store}: cannot write the ingest lease ({type(exc).__name__}: {exc})") from None

    def release(self) -> None:
        """Delete the lease if this owner still holds it."""
        if (self._read() or {}).get("owner") == self.owner:
            try:
                self.fs.rm_file(self.key)
            except OSError:
                pass


@contextmanager
def corpus_lease(
    store: str | Path, corpus: str, storage_options: dict | None = None, seconds: float = LEASE_SECONDS
) -> Iterator[Lease]:
    """Hold the lease on one corpus of a store on object storage for the duration of the block.

    Raises
    ------
    StoreError
        Another owner holds an unexpired lease, or the lease cannot be written.
    """
    lease = Lease(store, corpus, storage_options, seconds)
    lease.acquire()
    try:
        yield lease
    finally:
        lease.release()
