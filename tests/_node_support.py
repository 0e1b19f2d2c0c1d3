"""Helpers of the DICOM node tests: a destination SCP, a sending SCU, nodes in this
process or in their own, and waiting for the node's status."""

from __future__ import annotations

import copy
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import DigitalXRayImageStorageForPresentation, generate_uid
from pynetdicom import AE, StoragePresentationContexts, evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from medden.cli import build_parser
from medden.commands.denoise import denoising
from medden.commands.serve import _settings
from medden.node import Node

#: What the tests' sender calls itself.
SENDER = "SENDER"


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    """Poll ``condition`` until it is truthy (returned) or ``timeout`` seconds pass."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or condition}")


def status(spool: Path) -> dict[str, Any]:
    """The node's status.json ({} before it is written)."""
    try:
        return json.loads((spool / "status.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def delivered(spool: Path, count: int) -> Callable[[], bool]:
    """Condition: ``count`` instances sent and nothing pending."""
    def check() -> bool:
        now = status(spool)
        return now.get("sent") == count and now.get("pending") == 0
    return check


def xray_instance(folder: Path) -> Path:
    """A DX instance (64x64, 16 bits; pydicom's MR slice relabelled) in its own study."""
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    ds.Modality = "DX"
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = (
        DigitalXRayImageStorageForPresentation)
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    folder.mkdir(parents=True, exist_ok=True)
    ds.save_as(folder / "xray.dcm", enforce_file_format=True)
    return folder / "xray.dcm"


class Receiver:
    """A storage SCP collecting the datasets it is sent (the destination PACS)."""

    def __init__(self, ae_title: str = "DEST") -> None:
        self.ae = AE(ae_title)
        self.ae.supported_contexts = [*StoragePresentationContexts]
        self.ae.add_supported_context(Verification)
        self.ae_title = ae_title
        self.datasets: list[Dataset] = []
        self.lock = threading.Lock()
        self.port = 0

    def _store(self, event: Any) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        with self.lock:
            self.datasets.append(ds)
        return 0x0000

    def start(self, port: int = 0, ssl_context: ssl.SSLContext | None = None) -> Receiver:
        """Listen on loopback (port 0: a free one), over TLS with ``ssl_context``."""
        server = self.ae.start_server(("127.0.0.1", port), block=False,
                                      evt_handlers=[(evt.EVT_C_STORE, self._store)],
                                      ssl_context=ssl_context)
        self.port = server.server_address[1]
        return self

    @property
    def address(self) -> str:
        """``AE@127.0.0.1:PORT`` for ``--forward``."""
        return f"{self.ae_title}@127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop listening."""
        self.ae.shutdown()


def send(port: int, files: Iterable[Path | Dataset], calling: str = SENDER,
         ssl_context: ssl.SSLContext | None = None) -> list[int]:
    """C-STORE ``files`` to the node on ``port`` in one association (over TLS with
    ``ssl_context``); their statuses."""
    ae = AE(calling)
    ae.requested_contexts = StoragePresentationContexts
    tls = None if ssl_context is None else (ssl_context, "127.0.0.1")
    assoc = ae.associate("127.0.0.1", port, ae_title="MEDDEN", tls_args=tls)
    assert assoc.is_established, "the node refused the association"
    try:
        return [int(assoc.send_c_store(item).Status) for item in files]
    finally:
        assoc.release()


def corrupt_copy(path: Path) -> Dataset:
    """The instance of ``path`` with half of its pixel data cut off."""
    ds = copy.deepcopy(pydicom.dcmread(path))
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]
    return ds


def serve_arguments(spool: Path, forward: str, *extra: str) -> list[str]:
    """``medden serve`` arguments: a free port, a quick classical filter, a short idle."""
    return ["serve", "--port", "0", "--forward", forward, "--spool", str(spool),
            "--idle", "0.5", "--retry-delay", "0.2", "--model", "median:size=3", *extra]


def start_node(spool: Path, forward: str, *extra: str) -> Node:
    """A node in this process, from ``medden serve`` arguments (stop it with ``stop()``)."""
    args = build_parser().parse_args(serve_arguments(spool, forward, *extra))
    prepare, denoiser = denoising(args)
    node = Node(_settings(args), prepare, **denoiser)
    node.start()
    return node


def start_node_process(spool: Path, forward: str, *extra: str) -> tuple[subprocess.Popen,
                                                                         int]:
    """``medden serve`` in its own process; returns it and its port once it listens."""
    process = subprocess.Popen(
        [sys.executable, "-m", "medden.cli", *serve_arguments(spool, forward, *extra)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def listening() -> int | None:
        if process.poll() is not None:
            raise AssertionError(f"medden serve ended: {process.stdout.read()}")
        now = status(spool)
        return now.get("port") if now.get("pid") == process.pid else None

    return process, wait_for(listening, 60, "medden serve to listen")


def stop_process(process: subprocess.Popen, sig: int = signal.SIGTERM) -> int:
    """Send ``sig`` to a node process and wait for it; its exit status."""
    os.kill(process.pid, sig)
    return process.wait(timeout=30)
