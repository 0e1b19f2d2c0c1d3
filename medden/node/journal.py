"""The node's journal: what happened to every series, durable across crashes.

One JSON object per line in ``SPOOL/journal.jsonl``, appended and fsync'ed before the
node acts on it (before a C-STORE is answered with success, before an instance counts as
sent).  Replaying it after a restart gives back every batch and what is left to do:

``received``  an instance is in the spool (``batch``, ``series``, ``file``, ``modality``)
``refused``   an instance was refused with a failure status (``series`` when known, ``reason``)
``closed``    no instance arrived for ``--idle`` seconds: the batch is complete
``processed`` the derived series is written (``outputs``)
``sent``      the destination stored one derived instance (``file``)
``rejected``  the destination refused one derived instance for good (``file``, ``reason``)
``failed``    the batch could not be denoised (``reason``): nothing of it is sent

A *batch* is the instances of one series received until it was closed
(``<series>-<n>``, ``series`` being a digest of the Series Instance UID, never the UID
itself); instances of that series arriving later start the next batch.  A line cut short
by a crash (the last one) is dropped on opening.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["Batch", "Journal", "State"]

#: Where a batch stands: receiving instances, complete, derived series written, or done.
State = Literal["receiving", "closed", "processed", "delivered", "failed"]


@dataclass
class Batch:
    """One series' instances received together, and what became of them.

    ``received`` and ``outputs`` are file names in the batch's spool folders; ``sent``
    holds the outputs the destination stored, ``failed`` those it refused, with the
    reason.  ``last_arrival`` (monotonic seconds),
    ``attempts``, ``next_try`` and ``last_error`` are not journaled: they restart with
    the node.
    """

    name: str
    series: str
    state: State = "receiving"
    modality: str | None = None
    received: set[str] = field(default_factory=set)
    refused: int = 0
    outputs: list[str] = field(default_factory=list)
    sent: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    last_arrival: float = field(default_factory=time.monotonic)
    attempts: int = 0
    next_try: float = 0.0
    last_error: str | None = None

    def unsent(self) -> list[str]:
        """Outputs neither stored nor refused by the destination yet."""
        return [o for o in self.outputs if o not in self.sent and o not in self.failed]

    def summary(self) -> dict[str, Any]:
        """The batch's entry of ``status.json`` (counts and states, no UIDs)."""
        return {"state": self.state, "modality": self.modality, "received": len(self.received),
                "refused": self.refused, "derived": len(self.outputs), "sent": len(self.sent),
                "failed": len(self.failed), "reason": self.reason, "attempts": self.attempts,
                "last_error": self.last_error}


class Journal:
    """The batches, kept in memory and in an append-only, fsync'ed journal file.

    Every method that changes a batch writes its event first; all of them hold one lock,
    so SCP threads and the node's worker can call them at once.

    Parameters
    ----------
    path : Path
        The journal file (created if missing, replayed if present).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.batches: dict[str, Batch] = {}
        self.refused_unknown = 0
        self._receiving: dict[str, str] = {}  # series -> its batch now receiving
        self._generations: dict[str, int] = {}  # series -> number of its batches
        self.changed = threading.Event()
        for event in self._read():
            self._apply(event)
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def _read(self) -> Iterator[dict[str, Any]]:
        """The journal's events; a last line cut short by a crash is truncated away."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        if len(complete) != len(data):
            with open(self.path, "r+b") as handle:
                handle.truncate(len(complete))
        for line in complete.decode("utf-8").splitlines():
            yield json.loads(line)

    def _apply(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "refused" and event.get("batch") is None:
            self.refused_unknown += 1
            return
        if kind in ("received", "refused"):
            if event["batch"] not in self.batches:
                self.batches[event["batch"]] = Batch(event["batch"], event["series"])
                self._receiving[event["series"]] = event["batch"]
                self._generations[event["series"]] = self._generations.get(event["series"],
                                                                           0) + 1
            batch = self.batches[event["batch"]]
            if kind == "received":
                batch.received.add(event["file"])
                batch.modality = event.get("modality") or batch.modality
            else:
                batch.refused += 1
            return
        batch = self.batches[event["batch"]]
        if kind == "closed":
            batch.state = "closed"
            del self._receiving[batch.series]
        elif kind == "processed":
            batch.outputs = list(event["outputs"])
            batch.state = "processed"
        elif kind == "sent":
            batch.sent.add(event["file"])
        elif kind == "rejected":
            batch.failed[event["file"]] = event["reason"]
        elif kind == "failed":
            batch.state, batch.reason = "failed", event["reason"]
        if batch.state == "processed" and not batch.unsent():
            batch.state = "delivered"

    def _record(self, **event: Any) -> None:
        """Write ``event`` durably, then apply it."""
        with self.lock:
            self._file.write(json.dumps(event) + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())
            self._apply(event)
            self.changed.set()

    def _open_batch(self, series: str) -> str:
        """The batch now receiving ``series``, or the name of its next one."""
        return self._receiving.get(series) or f"{series}-{self._generations.get(series, 0)}"

    def receive(self, series: str, file: str, modality: str | None,
                store: Callable[[str], None]) -> str:
        """Record an instance of ``series``: ``store(batch)`` writes it into the batch's
        spool folder, then its event is journaled (both under the lock, so the batch
        cannot close in between).  Returns the batch."""
        with self.lock:
            name = self._open_batch(series)
            store(name)
            self._record(event="received", batch=name, series=series, file=file,
                         modality=modality)
            self.batches[name].last_arrival = time.monotonic()
            return name

    def refuse(self, series: str | None, reason: str) -> None:
        """Record an instance refused with a failure status (under its series' open batch
        when the series is known)."""
        with self.lock:
            name = None if series is None else self._open_batch(series)
            self._record(event="refused", batch=name, series=series, reason=reason)

    def close_idle(self, idle: float) -> list[Batch]:
        """Close the receiving batches without an arrival for ``idle`` seconds; a batch
        whose every instance was refused fails.  Returns those closed."""
        now = time.monotonic()
        closed = []
        with self.lock:
            for batch in list(self.batches.values()):
                if batch.state == "receiving" and now - batch.last_arrival >= idle:
                    self._record(event="closed", batch=batch.name)
                    if not batch.received:
                        self.fail(batch, "every instance was refused")
                    closed.append(batch)
        return closed

    def processed(self, batch: Batch, outputs: list[str]) -> None:
        """Record the derived series written for ``batch`` (paths in its folder)."""
        self._record(event="processed", batch=batch.name, outputs=outputs)

    def sent(self, batch: Batch, file: str) -> None:
        """Record that the destination stored the derived instance ``file``."""
        self._record(event="sent", batch=batch.name, file=file)

    def rejected(self, batch: Batch, file: str, reason: str) -> None:
        """Record that the destination refused ``file`` with a failure status."""
        self._record(event="rejected", batch=batch.name, file=file, reason=reason)

    def fail(self, batch: Batch, reason: str) -> None:
        """Record that ``batch`` could not be denoised."""
        self._record(event="failed", batch=batch.name, reason=reason)

    def in_state(self, state: State) -> list[Batch]:
        """The batches in ``state``, oldest first."""
        with self.lock:
            return [b for b in self.batches.values() if b.state == state]

    def close(self) -> None:
        """Close the journal file."""
        with self.lock:
            self._file.close()
