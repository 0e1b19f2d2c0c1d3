"""``medden serve`` between two ends of a real PACS: Orthanc sends a CT series to the node
(REST ``/modalities/.../store``) and receives the derived series back into the same study.

Orthanc (Debian package ``orthanc``) is started on free loopback ports with a temporary
configuration; without the ``Orthanc`` binary the test is skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _node_support import delivered, free_port, start_node, wait_for
from test_denoise_dicom import _write_series

ORTHANC = shutil.which("Orthanc") or shutil.which("Orthanc", path="/usr/sbin:/usr/local/sbin")

if ORTHANC is None and os.environ.get("MEDDEN_REQUIRE_ORTHANC"):
    raise RuntimeError("MEDDEN_REQUIRE_ORTHANC is set (CI installed Orthanc) but no Orthanc "
                       "binary is on PATH or in /usr/sbin")

pytestmark = pytest.mark.skipif(
    ORTHANC is None, reason="Orthanc is not installed (Debian: apt-get install orthanc)")


class Orthanc:
    """A running Orthanc: its REST API and DICOM port."""

    def __init__(self, http: int, dicom: int) -> None:
        self.url = f"http://127.0.0.1:{http}"
        self.dicom = dicom

    def call(self, path: str, body: bytes | None = None) -> Any:
        """GET ``path`` (POST ``body`` when given); the decoded JSON answer."""
        request = urllib.request.Request(self.url + path, data=body)
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read() or b"null")

    def up(self) -> bool:
        """Whether the REST API answers."""
        try:
            return bool(self.call("/system"))
        except (urllib.error.URLError, ConnectionError):
            return False


@pytest.fixture
def orthanc(tmp_path: Path) -> Iterator[tuple[Orthanc, int]]:
    """Orthanc on free ports, knowing the node (AE MEDDEN) as modality ``medden`` on the
    port it gives with it."""
    http, dicom, node_port = free_port(), free_port(), free_port()
    folder = tmp_path / "orthanc"
    folder.mkdir()
    config = {
        "Name": "medden-test", "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"), "HttpPort": http, "DicomPort": dicom,
        "DicomAet": "ORTHANC", "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
        "DicomCheckCalledAet": False, "DicomAlwaysAllowStore": True, "Plugins": [],
        "DicomModalities": {"medden": ["MEDDEN", "127.0.0.1", node_port]},
    }
    (folder / "orthanc.json").write_text(json.dumps(config))
    with open(folder / "orthanc.log", "w") as log:
        process = subprocess.Popen([ORTHANC, str(folder / "orthanc.json")], stdout=log,
                                   stderr=subprocess.STDOUT)
    server = Orthanc(http, dicom)
    try:
        wait_for(lambda: process.poll() is not None or server.up(), 30, "Orthanc to start")
        assert process.poll() is None, (folder / "orthanc.log").read_text()[-2000:]
        yield server, node_port
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_series_sent_from_orthanc_comes_back_derived_into_the_same_study(tmp_path,
                                                                             orthanc):
    server, node_port = orthanc
    datasets = _write_series(tmp_path / "in", count=4)
    for path in sorted((tmp_path / "in").iterdir()):
        study = server.call("/instances", path.read_bytes())["ParentStudy"]
    node = start_node(tmp_path / "spool", f"ORTHANC@127.0.0.1:{server.dicom}",
                      "--port", str(node_port), "--allow", "ORTHANC")
    try:
        server.call("/modalities/medden/store",
                    json.dumps({"Resources": [study], "Synchronous": True}).encode())
        wait_for(delivered(tmp_path / "spool", 4), 60, "the derived series sent to Orthanc")
    finally:
        node.stop()
    series = server.call(f"/studies/{study}/series")
    assert len(series) == 2
    derived = next(s for s in series
                   if s["MainDicomTags"]["SeriesInstanceUID"] != datasets[0].SeriesInstanceUID)
    assert len(derived["Instances"]) == 4
    tags = server.call(f"/instances/{derived['Instances'][0]}/simplified-tags")
    assert tags["StudyInstanceUID"] == datasets[0].StudyInstanceUID
    assert tags["ImageType"].startswith("DERIVED\\SECONDARY")
    assert "denoised by medden" in tags["DerivationDescription"]
    assert tags["SeriesDescription"].endswith("denoised")
