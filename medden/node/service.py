"""The DICOM node behind ``medden serve``: receive, denoise, forward.

Another front end of the flow of ``medden denoise`` (``../shared/DESIGN.md``): the spool is
IN, the destination is OUT.

* The SCP (:mod:`medden.node.scp`) checks each instance (:mod:`medden.node.intake`),
  writes it into the spool durably and journals it (:mod:`medden.node.journal`) before
  answering success; anything else is answered with a failure status and journaled.
* A worker thread closes the series that got no instance for ``idle`` seconds, denoises
  each with :func:`medden.process.process_tree` (the ``prepare`` of ``medden denoise``:
  same planning, denoising, derived-series writing and report) into its spool folder,
  and sends the written instances to the destination (:mod:`medden.node.forward`),
  journaling each one the destination stored.  While the destination cannot take them
  it retries with exponential back-off.
* After a restart the journal gives back every batch: the ones still receiving go on
  receiving, closed ones are denoised (again: new UIDs are a function of the source UIDs
  and the settings, so the output is the same), and only the instances not yet stored
  are sent.
* ``SPOOL/status.json`` (:mod:`medden.node.status`) is rewritten whenever something
  changed.  Logs name batches by digest and counts, never UIDs, paths or patient data.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medden.errors import INTERRUPTS
from medden.node.forward import Destination, Forwarder, Unreachable, delivered
from medden.node.intake import OUT_OF_RESOURCES, Refusal, accept
from medden.node.journal import Batch, Journal
from medden.node.scp import StoreSCP
from medden.node.spool import Spool
from medden.node.status import write_status
from medden.process import Prepare, process_tree

__all__ = ["Node", "NodeSettings"]

log = logging.getLogger("medden.node")


@dataclass(frozen=True)
class NodeSettings:
    """How the node listens, where it sends and how it waits.

    Attributes
    ----------
    ae_title : str
        The node's AE title (called by senders, calling the destination).
    destination : Destination
        Where derived series go.
    spool : Path
        The spool folder (:mod:`medden.node.spool`).
    bind, port : str, int
        Where to listen (port 0: a free one).
    idle : float
        Seconds without a new instance after which a series is complete.
    allow : tuple of str
        Calling AE titles accepted (empty: any).
    retry_delay, retry_max : float
        First delay before retrying a destination that cannot take instances, doubled at
        each failure up to ``retry_max``.
    keep : bool
        Keep the files of delivered series in the spool (default: delete them; the
        journal keeps their record).
    server_tls, client_tls : ssl.SSLContext, optional
        TLS for incoming associations and for those to the destination.
    """

    ae_title: str
    destination: Destination
    spool: Path
    bind: str = "127.0.0.1"
    port: int = 11112
    idle: float = 30.0
    allow: tuple[str, ...] = ()
    retry_delay: float = 5.0
    retry_max: float = 300.0
    keep: bool = False
    server_tls: ssl.SSLContext | None = None
    client_tls: ssl.SSLContext | None = None


class Node:
    """A running DICOM denoising node.

    Parameters
    ----------
    settings : NodeSettings
        Network, spool and timing.
    prepare : Prepare
        The operation for each series read (:func:`medden.commands.denoise.denoising`).
    method : str
        Recorded in each series' report.
    options : dict
        Run settings recorded in each report (and part of the new UIDs).
    concurrent : bool
        Denoise the images of a series side by side (a trained network; see
        :func:`medden.jobs.side_by_side`).
    """

    def __init__(self, settings: NodeSettings, prepare: Prepare, method: str,
                 options: dict[str, Any], concurrent: bool = False) -> None:
        self.settings = settings
        self.prepare = prepare
        self.method = method
        self.options = options
        self.concurrent = concurrent
        self.spool = Spool(settings.spool)
        self.journal = Journal(self.spool.journal)
        self.scp = StoreSCP(settings.ae_title, settings.allow, self.receive)
        self.forwarder = Forwarder(settings.ae_title, settings.destination,
                                   settings.client_tls)
        self.port: int | None = None
        self.state = "starting"
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._run, name="medden-node", daemon=True)

    # -- receiving (SCP threads) ---------------------------------------------------------

    def receive(self, event: Any) -> int:
        """Handle one C-STORE: the status to answer (success only once it is spooled)."""
        try:
            instance = accept(event)
        except Refusal as refusal:
            self.journal.refuse(refusal.series, refusal.reason)
            log.warning("instance refused (0x%04X): %s", refusal.status, refusal.reason)
            return refusal.status
        try:
            self.journal.receive(
                instance.series, instance.name, instance.modality,
                lambda batch: self.spool.store(batch, instance.name, instance.data))
        except OSError as exc:
            reason = f"the spool cannot take it ({exc.strerror or type(exc).__name__})"
            self.journal.refuse(instance.series, reason)
            log.error("instance refused (0x%04X): %s", OUT_OF_RESOURCES, reason)
            return OUT_OF_RESOURCES
        return 0x0000

    # -- the worker ---------------------------------------------------------------------

    def _derive(self, batch: Batch) -> None:
        """Denoise a closed batch into its derived folder; journal the outcome."""
        try:
            report = process_tree(self.spool.incoming(batch.name),
                                  self.spool.derived(batch.name), self.prepare,
                                  command="serve", method=self.method, existing="overwrite",
                                  progress=False, options=self.options,
                                  concurrent=self.concurrent)
        except INTERRUPTS:
            raise
        except BaseException as exc:  # noqa: BLE001 - one series never stops the node
            report, reason = None, f"{type(exc).__name__}: {exc}"
        else:
            outputs = [o for r in report.results if r.status == "ok" for o in r.outputs]
            reason = ("; ".join(r.reason or "" for r in report.failed)
                      or (None if outputs else "no image to denoise"))
        if reason is not None:
            self.journal.fail(batch, reason)
            log.error("series %s: denoising failed (reason in status.json)", batch.name)
            return
        self.journal.processed(batch, outputs)
        log.info("series %s: %d instance(s) denoised", batch.name, len(outputs))

    def _forward(self, batch: Batch) -> None:
        """Send a processed batch's unsent instances; schedule a retry when the
        destination cannot take them."""
        folder = self.spool.derived(batch.name)
        names = {folder / name: name for name in batch.unsent()}
        try:
            for path, status in self.forwarder.send(list(names)):
                if delivered(status):
                    self.journal.sent(batch, names[path])
                else:
                    self.journal.rejected(batch, names[path],
                                          f"refused by the destination (0x{status:04X})")
                    log.error("series %s: an instance was refused by the destination "
                              "(0x%04X)", batch.name, status)
        except Unreachable as exc:
            batch.attempts += 1
            delay = min(self.settings.retry_delay * 2 ** (batch.attempts - 1),
                        self.settings.retry_max)
            batch.next_try = time.monotonic() + delay
            batch.last_error = str(exc)
            self.journal.changed.set()
            log.warning("series %s: %s; retry %d in %.1f s", batch.name, exc,
                        batch.attempts, delay)
            return
        batch.attempts, batch.last_error = 0, None
        log.info("series %s: %d instance(s) sent to %s", batch.name, len(batch.sent),
                 self.settings.destination)
        if batch.state == "delivered" and not self.settings.keep:
            self.spool.remove(batch.name)

    def step(self) -> None:
        """One round of the worker: close idle series, denoise them, forward what waits."""
        for batch in self.journal.close_idle(self.settings.idle):
            log.info("series %s: complete, %d instance(s)", batch.name, len(batch.received))
        for batch in self.journal.in_state("closed"):
            if self._stop.is_set():
                return
            self._derive(batch)
        for batch in self.journal.in_state("processed"):
            if self._stop.is_set():
                return
            if time.monotonic() >= batch.next_try:
                self._forward(batch)

    def _write_status(self) -> None:
        self.journal.changed.clear()
        write_status(self.spool.status, self.journal, {
            "state": self.state, "pid": os.getpid(), "ae_title": self.settings.ae_title,
            "address": self.settings.bind, "port": self.port,
            "destination": str(self.settings.destination),
        })

    def _run(self) -> None:
        tick = min(max(self.settings.idle / 5, 0.05), 1.0)
        while not self._stop.is_set():
            try:
                self.step()
            except INTERRUPTS:
                raise
            except Exception:  # noqa: BLE001 - logged; the node goes on
                log.exception("worker step failed")
            if self.journal.changed.is_set():
                self._write_status()
            self._stop.wait(tick)

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> int:
        """Listen and start the worker; returns the port listened on."""
        # pydicom warnings quote element values, which may be patient data
        warnings.filterwarnings("ignore", module=r"pydicom(\.|$)")
        logging.getLogger("pynetdicom").setLevel(logging.WARNING)
        if not self.settings.keep:
            for batch in self.journal.in_state("delivered"):
                self.spool.remove(batch.name)
        self.port = self.scp.start(self.settings.bind, self.settings.port,
                                   self.settings.server_tls)
        self.state = "running"
        self._write_status()
        self._worker.start()
        return self.port

    def stop(self) -> None:
        """Stop listening, let the worker finish its current series, write the status.

        What is not done stays in the spool and journal for the next start.
        """
        self.scp.stop()
        self._stop.set()
        if self._worker.is_alive():
            self._worker.join()
        self.state = "stopped"
        self._write_status()
        self.journal.close()
