"""``medden evaluate`` on a folder mixing grey images, RGB images and a DICOM series."""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from medden.cli import main

CT_SMALL = Path(get_testdata_file("CT_small.dcm"))


def _reference(folder: Path) -> None:
    """An RGB PNG (first: its row has ΔE), a grey PNG and a series of three CT slices
    (files slice_0 ...)."""
    rng = np.random.default_rng(0)
    (folder / "ct").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (48, 48, 3), np.uint8)).save(folder / "a_rgb.png")
    Image.fromarray(rng.integers(0, 256, (48, 48), np.uint8)).save(folder / "b_grey.png")
    source = pydicom.dcmread(CT_SMALL)
    series = generate_uid()
    for index in range(3):
        ds = copy.deepcopy(source)
        ds.SeriesInstanceUID, ds.SOPInstanceUID = series, generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        x, y, z = (float(v) for v in source.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y, z + 2.5 * index]
        ds.save_as(folder / "ct" / f"slice_{index}", enforce_file_format=True)


def test_delta_e_for_rgb_rows_only_and_series_named_by_series(tmp_path, capsys):
    _reference(tmp_path / "ref")
    assert main(["noise", str(tmp_path / "ref"), str(tmp_path / "noisy"), "--noise",
                 "gaussian:sigma=10", "--quiet"]) == 0
    assert main(["evaluate", "--reference", str(tmp_path / "ref"), "--test",
                 str(tmp_path / "noisy"), "--json", str(tmp_path / "m.json"), "--csv",
                 str(tmp_path / "m.csv")]) == 0
    printed = capsys.readouterr().out
    rows = {r["file"]: r for r in json.loads((tmp_path / "m.json").read_text())["rows"]}
    assert list(rows) == ["a_rgb.png", "b_grey.png", "ct (series of 3 files, first slice_0)",
                          "mean"]
    assert [("delta_e" in r) for r in rows.values()] == [True, False, False, True]
    assert rows["mean"]["delta_e"] == rows["a_rgb.png"]["delta_e"]
    assert "slice_0 " not in printed.replace("first slice_0", "")
    with (tmp_path / "m.csv").open() as handle:
        assert [r["delta_e"] != "" for r in csv.DictReader(handle)] == [True, False, False,
                                                                        True]


def test_help_gives_the_exit_status(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    assert "Exit status: 0 every reference image was scored, 1" in " ".join(
        capsys.readouterr().out.split())
