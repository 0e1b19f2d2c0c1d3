"""``medden serve``: the DICOM protocol on loopback with pynetdicom on both sides.

A CT series (pydicom's CT slice at several positions) and an X-ray are C-STOREd to the node;
the derived series arrive at a pynetdicom storage SCP.  Faults: a node killed half-way
through a series, a destination that is down, a caller not allowed, a corrupt instance.
The node runs a median filter and a short --idle so that each test takes seconds.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _node_support import (
    Receiver,
    corrupt_copy,
    delivered,
    free_port,
    send,
    start_node,
    start_node_process,
    status,
    stop_process,
    wait_for,
    xray_instance,
)
from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from test_denoise_dicom import _write_series

from medden.cli import main
from medden.node.tls import client_context, server_context


@pytest.fixture
def receiver():
    destination = Receiver().start()
    yield destination
    destination.stop()


def _denoised_by_source(folder: Path) -> dict[str, pydicom.Dataset]:
    """The instances ``medden denoise`` wrote under ``folder``, by source SOP Instance UID."""
    written = [pydicom.dcmread(p) for p in folder.rglob("*") if p.is_file()
               and p.name != "report.json"]
    return {str(ds.SourceImageSequence[0].ReferencedSOPInstanceUID): ds for ds in written}


def test_ct_series_and_xray_arrive_as_derived_series_like_medden_denoise(tmp_path, receiver):
    sources = tmp_path / "in"
    ct = _write_series(sources / "ct", count=4)
    xray = xray_instance(sources / "xray")
    node = start_node(tmp_path / "spool", receiver.address, "--strength", "0.5")
    try:
        assoc = AE("SENDER")
        assoc.add_requested_context(Verification)
        echo = assoc.associate("127.0.0.1", node.port, ae_title="MEDDEN")
        assert echo.send_c_echo().Status == 0x0000
        echo.release()
        files = sorted((sources / "ct").iterdir()) + [xray]
        assert send(node.port, files) == [0] * 5
        wait_for(delivered(tmp_path / "spool", 5), what="5 derived instances sent")
    finally:
        node.stop()
    assert main(["denoise", str(sources), str(tmp_path / "denoised"), "--model",
                 "median:size=3", "--strength", "0.5", "--quiet"]) == 0
    expected = _denoised_by_source(tmp_path / "denoised")
    sources_by_uid = {str(ds.SOPInstanceUID): ds for ds in
                      [*ct, pydicom.dcmread(xray)]}
    assert len(receiver.datasets) == 5
    for ds in receiver.datasets:
        source = sources_by_uid[str(ds.SourceImageSequence[0].ReferencedSOPInstanceUID)]
        assert ds.StudyInstanceUID == source.StudyInstanceUID
        assert ds.SeriesInstanceUID != source.SeriesInstanceUID
        assert ds.SOPInstanceUID != source.SOPInstanceUID
        assert list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"]
        assert "strength 0.5" in ds.DerivationDescription
        np.testing.assert_array_equal(
            ds.pixel_array, expected[str(source.SOPInstanceUID)].pixel_array)
        assert not np.array_equal(ds.pixel_array, source.pixel_array)
    series = {str(ds.SeriesInstanceUID) for ds in receiver.datasets}
    assert len(series) == 2  # one derived series per source series
    final = status(tmp_path / "spool")
    assert final["state"] == "stopped"
    assert (final["received"], final["sent"], final["failed"], final["pending"]) == (5, 5, 0, 0)
    assert sorted(b["state"] for b in final["series"].values()) == ["delivered"] * 2
    # delivered series leave no files behind, and no UID appears in the spool
    assert not any((tmp_path / "spool" / "incoming").iterdir())
    journal = (tmp_path / "spool" / "journal.jsonl").read_text()
    assert not any(str(ds.SeriesInstanceUID) in journal for ds in ct)


def test_a_calling_ae_title_not_allowed_is_rejected(tmp_path, receiver):
    node = start_node(tmp_path / "spool", receiver.address, "--allow", "SENDER,OTHER")
    try:
        for calling, accepted in (("INTRUDER", False), ("OTHER", True)):
            ae = AE(calling)
            ae.add_requested_context(Verification)
            assoc = ae.associate("127.0.0.1", node.port, ae_title="MEDDEN")
            assert assoc.is_established is accepted
            assert assoc.is_rejected is not accepted
            if accepted:
                assoc.release()
    finally:
        node.stop()


def test_a_corrupt_instance_is_refused_and_the_rest_of_the_series_goes_on(tmp_path,
                                                                           receiver):
    _write_series(tmp_path / "in", count=4)
    files: list = sorted((tmp_path / "in").iterdir())
    files[1] = corrupt_copy(files[1])
    node = start_node(tmp_path / "spool", receiver.address)
    try:
        statuses = send(node.port, files)
        assert statuses[1] >> 12 in (0xA, 0xC) and statuses[:1] + statuses[2:] == [0] * 3
        wait_for(delivered(tmp_path / "spool", 3), what="3 derived instances sent")
    finally:
        node.stop()
    assert len(receiver.datasets) == 3
    final = status(tmp_path / "spool")
    assert final["refused"] == 1 and final["received"] == 3
    (entry,) = final["series"].values()
    assert entry["refused"] == 1 and entry["state"] == "delivered"
    events = [json.loads(line) for line in
              (tmp_path / "spool" / "journal.jsonl").read_text().splitlines()]
    assert "pixel data" in next(e["reason"] for e in events if e["event"] == "refused")


def test_a_destination_down_for_a_while_gets_the_series_after_retries(tmp_path):
    port = free_port()
    datasets = _write_series(tmp_path / "in", count=4)
    node = start_node(tmp_path / "spool", f"DEST@127.0.0.1:{port}")
    destination = Receiver()
    try:
        assert send(node.port, sorted((tmp_path / "in").iterdir())) == [0] * 4
        wait_for(lambda: any(b["attempts"] >= 2 for b in
                             status(tmp_path / "spool").get("series", {}).values()),
                 what="two failed attempts")
        (entry,) = status(tmp_path / "spool")["series"].values()
        assert entry["state"] == "processed" and entry["last_error"]
        destination.start(port)
        wait_for(delivered(tmp_path / "spool", 4), what="delivery after the retries")
    finally:
        node.stop()
        destination.stop()
    sources = sorted(str(ds.SourceImageSequence[0].ReferencedSOPInstanceUID)
                     for ds in destination.datasets)
    assert sources == sorted(str(ds.SOPInstanceUID) for ds in datasets)


def test_a_node_killed_half_way_through_a_series_delivers_it_once_after_restart(tmp_path,
                                                                                 receiver):
    _write_series(tmp_path / "in", count=4)
    files = sorted((tmp_path / "in").iterdir())
    spool = tmp_path / "spool"
    process, port = start_node_process(spool, receiver.address, "--idle", "2")
    assert send(port, files[:2]) == [0, 0]
    wait_for(lambda: status(spool).get("received") == 2, what="2 instances journaled")
    assert stop_process(process, signal.SIGKILL) == -signal.SIGKILL
    assert receiver.datasets == []  # the series was not complete
    process, port = start_node_process(spool, receiver.address, "--idle", "2")
    try:
        assert send(port, files[2:]) == [0, 0]
        wait_for(delivered(spool, 4), what="the whole series sent")
    finally:
        assert stop_process(process) == 0  # SIGTERM: a clean shutdown
    assert status(spool)["state"] == "stopped"
    uids = Counter(str(ds.SOPInstanceUID) for ds in receiver.datasets)
    assert len(uids) == 4 and set(uids.values()) == {1}
    assert len({str(ds.SeriesInstanceUID) for ds in receiver.datasets}) == 1


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_tls_both_ways_with_client_certificates(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=medden-test",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True,
                   capture_output=True)
    destination = Receiver().start(ssl_context=server_context(cert, key, cert))
    _write_series(tmp_path / "in", count=4)
    tls = ["--tls-cert", str(cert), "--tls-key", str(key), "--tls-ca", str(cert)]
    node = start_node(tmp_path / "spool", destination.address, *tls, "--forward-tls")
    try:
        plain = AE("SENDER")
        plain.add_requested_context(Verification)
        assert not plain.associate("127.0.0.1", node.port, ae_title="MEDDEN").is_established
        client = client_context(cert, cert, key)
        assert send(node.port, sorted((tmp_path / "in").iterdir()), ssl_context=client) \
            == [0] * 4
        wait_for(delivered(tmp_path / "spool", 4), what="delivery over TLS")
    finally:
        node.stop()
        destination.stop()
    assert len(destination.datasets) == 4
