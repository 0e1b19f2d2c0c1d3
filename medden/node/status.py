"""``SPOOL/status.json``: what the node has received, has pending, sent and failed.

Counts are instances; ``pending`` counts the series (batches) not finished yet.
``series`` has one entry per batch (:meth:`medden.node.journal.Batch.summary`), keyed by
the batch name (a digest of the Series Instance UID, never the UID).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from medden.io.atomic import atomic_write
from medden.node.journal import Journal

__all__ = ["status", "write_status"]


def status(journal: Journal, node: dict[str, Any]) -> dict[str, Any]:
    """The status of ``journal``'s batches, after the ``node``'s own facts (AE title,
    port, destination, state)."""
    with journal.lock:
        batches = list(journal.batches.values())
        refused_unknown = journal.refused_unknown
    return {
        **node,
        "updated": datetime.now(UTC).isoformat(timespec="seconds"),
        "received": sum(len(b.received) for b in batches),
        "refused": refused_unknown + sum(b.refused for b in batches),
        "pending": sum(b.state in ("receiving", "closed", "processed") for b in batches),
        "sent": sum(len(b.sent) for b in batches),
        "failed": sum(len(b.failed) + (len(b.received) if b.state == "failed" else 0)
                      for b in batches),
        "series": {b.name: b.summary() for b in batches},
    }


def write_status(path: Path, journal: Journal, node: dict[str, Any]) -> None:
    """Write :func:`status` to ``path`` atomically."""
    payload = json.dumps(status(journal, node), indent=2)
    with atomic_write(path) as handle:
        handle.write(payload.encode("utf-8"))
