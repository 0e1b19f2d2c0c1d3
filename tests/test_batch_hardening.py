"""``medden denoise`` / ``medden noise`` over folders: what no input, name or folder may break
(issue 25): a decoder's panic, names that are not UTF-8 or at NAME_MAX, IN inside OUT, an input
named like the report, an OUT that cannot be made, an IN without images; labels and tables."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _train_support import tiny_checkpoint
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

import medden.process
from medden.cli import main
from medden.io.names import unescaped_name

CT_SMALL = Path(get_testdata_file("CT_small.dcm"))
MEDIAN = ["--model", "median:size=3", "--quiet"]


def _png(path: Path, seed: int = 0, channels: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (16, 16, channels) if channels > 1 else (16, 16)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, np.uint8)).save(path)
    return path


def _report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def _statuses(out: Path) -> dict[str, str]:
    return {f["input"]: f["status"] for f in _report(out)["files"]}


class _Panic(BaseException):
    """Stands for ``pyo3_runtime.PanicException``: a ``BaseException``, not an Exception."""


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_decoder_panic_fails_that_file_only(tmp_path, monkeypatch, jobs):
    _png(tmp_path / "in" / "a_bad.png")
    _png(tmp_path / "in" / "b_good.png", seed=1)
    real = medden.process.read_image

    def read_image(path):
        if Path(path).name == "a_bad.png":
            raise _Panic("called `Result::unwrap()` on an `Err` value")
        return real(path)

    monkeypatch.setattr(medden.process, "read_image", read_image)
    out = tmp_path / "out"
    assert main(["denoise", str(tmp_path / "in"), str(out), *MEDIAN, "--jobs", jobs]) == 1
    assert _statuses(out) == {"a_bad.png": "failed", "b_good.png": "ok"}
    assert "_Panic: called `Result::unwrap()`" in _report(out)["files"][0]["reason"]
    assert (out / "b_good.png").is_file()


def test_keyboard_interrupt_still_stops_the_batch(tmp_path, monkeypatch):
    _png(tmp_path / "in" / "a.png")
    monkeypatch.setattr(medden.process, "read_image", lambda path: (_ for _ in ()).throw(
        KeyboardInterrupt()))
    assert main(["denoise", str(tmp_path / "in"), str(tmp_path / "out"), *MEDIAN]) == 130
    assert _report(tmp_path / "out")["interrupted"]


def test_names_that_are_not_utf8_reach_the_report_and_table(tmp_path, capsys):
    # capsys' stdout is strict UTF-8, as a console under a strict UTF-8 locale
    name = os.fsdecode(b"caf\xe9 \\x41.png")  # Latin-1 byte, and a backslash
    _png(tmp_path / "in" / name)
    out = tmp_path / "out"
    assert main(["denoise", str(tmp_path / "in"), str(out), "--model", "median:size=3"]) == 0
    printed = capsys.readouterr().out
    assert "caf\\xe9 \\x41.png" in printed and "1 ok" in printed
    text = (out / "report.json").read_bytes().decode("utf-8")  # valid UTF-8, no surrogates
    report = json.loads(text)
    (entry,) = report["files"]
    assert entry["escaped_names"] is True and "escaped_names" in report
    assert unescaped_name(entry["input"]) == name
    assert [unescaped_name(o) for o in entry["outputs"]] == [name]
    assert (out / name).is_file()


def test_a_name_at_name_max_is_written(tmp_path):
    name = "n" * 246 + ".png"  # 250 bytes: its temporary name must be shortened
    _png(tmp_path / "in" / name)
    out = tmp_path / "out"
    assert main(["denoise", str(tmp_path / "in"), str(out), *MEDIAN]) == 0
    assert _statuses(out) == {name: "ok"}
    assert sorted(p.name for p in out.iterdir()) == [name, "report.json"]


def test_input_inside_output_is_refused(tmp_path, capsys):
    _png(tmp_path / "data" / "in" / "x.png")
    (tmp_path / "data" / "in" / "notes.png").write_text("not an image")
    assert main(["denoise", str(tmp_path / "data" / "in"), str(tmp_path / "data"),
                 "--model", "identity", "--overwrite"]) == 2
    assert "is inside the output" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "data").rglob("*")) == ["in", "notes.png",
                                                                       "x.png"]


def test_an_input_named_like_the_report_fails_with_the_reason(tmp_path):
    ds = pydicom.dcmread(CT_SMALL)
    ds.SeriesInstanceUID = generate_uid()
    (tmp_path / "in").mkdir()
    ds.save_as(tmp_path / "in" / "report.json", enforce_file_format=True)
    _png(tmp_path / "in" / "x.png")
    out = tmp_path / "out"
    args = ["denoise", str(tmp_path / "in"), str(out), *MEDIAN]
    assert main(args) == 1
    files = {f["input"]: f for f in _report(out)["files"]}
    assert files["report.json"]["status"] == "failed"
    assert "where the run's report is written" in files["report.json"]["reason"]
    assert files["x.png"]["status"] == "ok"
    # --resume does not take the report for its output
    assert main([*args, "--resume"]) == 1
    assert _statuses(out)["report.json"] == "failed"


@pytest.mark.parametrize("where", ["under a file", "name too long"])
def test_an_output_folder_that_cannot_be_made_is_a_usage_error(tmp_path, capsys, where):
    _png(tmp_path / "in" / "x.png")
    (tmp_path / "file").write_text("a file")
    out = tmp_path / "file" / "out" if where == "under a file" else tmp_path / ("o" * 300)
    assert main(["denoise", str(tmp_path / "in"), str(out), *MEDIAN]) == 2
    err = capsys.readouterr().err
    assert err.startswith("medden denoise: error: output folder") and "cannot be created" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["denoise", "noise"])
def test_a_folder_without_images_exits_1(tmp_path, capsys, command):
    (tmp_path / "empty").mkdir()
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "notes.txt").write_text("not an image")
    how = ["--model", "identity"] if command == "denoise" else ["--noise", "gaussian"]
    for folder in ("empty", "text"):
        assert main([command, str(tmp_path / folder), str(tmp_path / f"out_{folder}"),
                     *how]) == 1
        printed = capsys.readouterr()
        assert "no images found" in printed.err and "0 ok" not in printed.out


def test_noisy_dicom_is_labelled_noisy_and_the_table_says_noise(tmp_path, capsys):
    ds = pydicom.dcmread(CT_SMALL)
    ds.SeriesDescription = "CHEST"
    (tmp_path / "in").mkdir()
    ds.save_as(tmp_path / "in" / "ct.dcm", enforce_file_format=True)
    assert main(["noise", str(tmp_path / "in"), str(tmp_path / "out"), "--noise",
                 "gaussian:sigma=5"]) == 0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert header[:3] == ["status", "seconds", "noise"]
    written = pydicom.dcmread(tmp_path / "out" / "ct.dcm")
    assert written.SeriesDescription == "CHEST noisy"
    assert "denoised" not in written.DerivationDescription
    assert "noise" in written.DerivationDescription


def test_a_grey_network_denoises_rgb_per_channel_and_labels_stay_short(tmp_path, capsys):
    pipeline = tiny_checkpoint(tmp_path / "run" / "best.pt")  # built for 1 channel
    source = _png(tmp_path / "in" / "rgb.png", channels=3)
    out = tmp_path / "out"
    assert main(["denoise", str(tmp_path / "in"), str(out), "--checkpoint",
                 str(tmp_path / "run")]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert max(map(len, rows)) < 100
    (entry,) = _report(out)["files"]
    assert entry["model"] == "checkpoint run/best.pt (single: dncnn)"
    import torch

    pixels = torch.from_numpy(np.asarray(Image.open(source), np.float32) / 255)
    with torch.no_grad():
        expected = pipeline.eval()(pixels.permute(2, 0, 1)[:, None])[:, 0] * 255
    written = np.asarray(Image.open(out / "rgb.png"), np.float32)
    np.testing.assert_allclose(written, np.clip(np.rint(expected.permute(1, 2, 0).numpy()),
                                                0, 255), atol=1)
