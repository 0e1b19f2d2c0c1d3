"""DICOM series that are damaged or not conformant (issue 25, items 6 and 10): a series with
a corrupt slice fails as a whole; slices whose SOPClassUID and SeriesInstanceUID are empty
are grouped, read as a volume, written with what the standard needs, and the repair is
reported."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import CTImageStorage

from medden.cli import main
from medden.testing.fuzz_seeds import write_series

CT_SMALL = Path(get_testdata_file("CT_small.dcm"))
MEDIAN = ["--model", "median:size=3", "--quiet"]


def _series(folder: Path, **changes: str) -> list[Path]:
    """Three slices of one new series (CT_small at several positions) in ``folder``."""
    return write_series(pydicom.dcmread(CT_SMALL), folder, 3, **changes)


def _report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-1000])


def _drop_rows(path: Path) -> None:
    ds = pydicom.dcmread(path)
    del ds.Rows
    ds.save_as(path)


@pytest.mark.parametrize(("damage", "why"), [(_truncate, "truncated DICOM"),
                                            (_drop_rows, "without an image")])
def test_a_series_with_a_corrupt_slice_fails_as_a_whole(tmp_path, damage, why):
    paths = _series(tmp_path / "in" / "ct")
    damage(paths[1])
    _series(tmp_path / "in" / "other")
    out = tmp_path / "out"
    assert main(["denoise", str(tmp_path / "in"), str(out), *MEDIAN]) == 1
    files = {f["input"]: f for f in _report(out)["files"]}
    assert set(files) == {"ct", "other"}
    assert files["other"]["status"] == "ok"
    assert files["ct"]["status"] == "failed"
    assert "the series is incomplete" in files["ct"]["reason"]
    assert "ct/slice1.dcm" in files["ct"]["reason"] and why in files["ct"]["reason"]
    assert not (out / "ct").exists()


@pytest.mark.parametrize("command", ["denoise", "noise"])
def test_empty_sop_class_and_series_uids_are_read_as_one_series_and_repaired(tmp_path,
                                                                            command):
    paths = _series(tmp_path / "in" / "ct", SOPClassUID="", SeriesInstanceUID="")
    assert pydicom.dcmread(paths[0]).file_meta.MediaStorageSOPClassUID == CTImageStorage
    out = tmp_path / "out"
    option = MEDIAN if command == "denoise" else ["--noise", "gaussian:sigma=5", "--quiet"]
    assert main([command, str(tmp_path / "in"), str(out), *option]) == 0
    (entry,) = _report(out)["files"]
    assert entry["status"] == "ok" and len(entry["files"]) == 3  # one volume
    notes = " ".join(entry["notes"])
    assert "SOPClassUID was empty: taken from the file meta" in notes
    assert "SeriesInstanceUID was empty: slices grouped by" in notes
    written = [pydicom.dcmread(out / "ct" / p.name) for p in paths]
    assert {ds.SOPClassUID for ds in written} == {CTImageStorage}
    assert {ds.file_meta.MediaStorageSOPClassUID for ds in written} == {CTImageStorage}
    assert len({ds.SeriesInstanceUID for ds in written}) == 1
    assert written[0].SeriesInstanceUID  # a new UID, not empty
    assert len({ds.SOPInstanceUID for ds in written}) == 3
    sources = [ds.SourceImageSequence[0].ReferencedSOPInstanceUID for ds in written]
    assert sources == [pydicom.dcmread(p).SOPInstanceUID for p in paths]


def test_a_slice_without_any_uid_gets_distinct_derived_uids(tmp_path):
    paths = _series(tmp_path / "in" / "ct", SOPClassUID="", SeriesInstanceUID="",
                    SOPInstanceUID="")
    for path in paths:  # the file meta has no instance UID either
        ds = pydicom.dcmread(path)
        del ds.file_meta.MediaStorageSOPInstanceUID
        pydicom.dcmwrite(path, ds, enforce_file_format=False)
    out = tmp_path / "out"
    assert main(["denoise", str(tmp_path / "in"), str(out), *MEDIAN]) == 0
    (entry,) = _report(out)["files"]
    assert "SOPInstanceUID was empty" in " ".join(entry["notes"])
    written = [pydicom.dcmread(out / "ct" / p.name) for p in paths]
    assert len({ds.SOPInstanceUID for ds in written}) == 3
    assert all("SourceImageSequence" not in ds for ds in written)
