"""``medden denoise`` over folders: bad inputs, exit status, existing outputs, denoiser choice."""

from __future__ import annotations

import copy
import importlib.util
import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch
from _train_support import tiny_checkpoint
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate
from pydicom.uid import MPEG2MPML, generate_uid

from medden import denoisers
from medden.cli import main

CT_SMALL = Path(get_testdata_file("CT_small.dcm"))
RT_PLAN = Path(get_testdata_file("rtplan.dcm"))


def _png(path: Path, seed: int = 0, size: int = 16) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _ct(path: Path, **changes) -> pydicom.Dataset:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds = pydicom.dcmread(CT_SMALL)
    ds.SeriesInstanceUID = generate_uid()
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    ds.save_as(path, enforce_file_format=True)
    return ds


def _bad_inputs(folder: Path) -> None:
    """A corrupt (truncated) DICOM, DICOM without pixels, an undecodable transfer syntax,
    a NaN NIfTI, a zero-size NIfTI, a text file and a DICOM object that is not an image."""
    folder.mkdir(parents=True, exist_ok=True)
    data = CT_SMALL.read_bytes()
    (folder / "truncated.dcm").write_bytes(data[: len(data) - 5000])
    ds = _ct(folder / "nopixels.dcm")
    del ds.PixelData
    ds.save_as(folder / "nopixels.dcm")
    ds = pydicom.dcmread(CT_SMALL)
    ds.SeriesInstanceUID = generate_uid()
    ds.PixelData = encapsulate([ds.PixelData])
    ds.file_meta.TransferSyntaxUID = MPEG2MPML
    ds.save_as(folder / "mpeg2.dcm", enforce_file_format=True)
    nan = np.ones((6, 5, 3), np.float32)
    nan[1, 1, 1] = np.nan
    nib.save(nib.Nifti1Image(nan, np.eye(4)), folder / "nan.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros((0, 5, 3), np.int16), np.eye(4)), folder / "empty.nii")
    (folder / "notes.txt").write_text("not an image")
    shutil.copy(RT_PLAN, folder / "plan.dcm")


def _report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def _statuses(out: Path) -> dict[str, tuple[str, str | None]]:
    return {f["input"]: (f["status"], f["reason"]) for f in _report(out)["files"]}


def test_bad_inputs_are_reported_and_the_batch_goes_on(tmp_path, capsys):
    _png(tmp_path / "in" / "a" / "good.png")
    _ct(tmp_path / "in" / "a" / "ct.dcm")
    _bad_inputs(tmp_path / "in" / "bad")
    out = tmp_path / "out"
    assert main(["denoise", str(tmp_path / "in"), str(out), "--model", "median:size=3"]) == 1
    printed = capsys.readouterr()
    statuses = _statuses(out)
    assert {k: v[0] for k, v in statuses.items()} == {
        "a/good.png": "ok", "a/ct.dcm": "ok",
        "bad/truncated.dcm": "failed", "bad/nopixels.dcm": "failed", "bad/mpeg2.dcm": "failed",
        "bad/nan.nii.gz": "failed", "bad/empty.nii": "failed",
        "bad/notes.txt": "skipped", "bad/plan.dcm": "skipped",
    }
    assert "truncated" in statuses["bad/truncated.dcm"][1]
    assert "Pixel Data" in statuses["bad/nopixels.dcm"][1]
    assert "MPEG2" in statuses["bad/mpeg2.dcm"][1]
    assert "NaN" in statuses["bad/nan.nii.gz"][1]
    assert "no pixels" in statuses["bad/empty.nii"][1]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "a/ct.dcm", "a/good.png", "report.json"]
    # paths only: no patient name or id in the report or the printed table
    patient = pydicom.dcmread(CT_SMALL)
    for text in ((out / "report.json").read_text(), printed.out, printed.err):
        assert str(patient.PatientName) not in text and str(patient.PatientID) not in text
    assert "5 failed" in printed.out


def test_strict_stops_at_the_first_failure(tmp_path):
    nan = np.full((6, 5, 3), np.nan, np.float32)
    (tmp_path / "in").mkdir()
    nib.save(nib.Nifti1Image(nan, np.eye(4)), tmp_path / "in" / "a_nan.nii")
    _png(tmp_path / "in" / "b.png")
    out = tmp_path / "out"
    assert main(["denoise", str(tmp_path / "in"), str(out), "--model", "identity",
                 "--strict", "--quiet"]) == 1
    assert not (out / "b.png").exists()
    assert [f["input"] for f in _report(out)["files"]] == ["a_nan.nii"]
    # a failure found while scanning stops the run before any work
    (tmp_path / "in" / "a_nan.nii").unlink()
    (tmp_path / "in" / "bad.dcm").write_bytes(CT_SMALL.read_bytes()[:-5000])
    assert main(["denoise", str(tmp_path / "in"), str(tmp_path / "out2"), "--model",
                 "identity", "--strict", "--quiet"]) == 1
    assert not (tmp_path / "out2" / "b.png").exists()


def test_existing_outputs_need_resume_or_overwrite(tmp_path, capsys):
    for i in range(3):
        _png(tmp_path / "in" / f"img{i}.png", seed=i)
    args = ["denoise", str(tmp_path / "in"), str(tmp_path / "out"), "--model", "median:size=3",
            "--quiet"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 2
    assert "already holds outputs for 3 input(s)" in capsys.readouterr().err

    (tmp_path / "out" / "img1.png").unlink()
    assert main([*args, "--resume"]) == 0
    report = _report(tmp_path / "out")
    assert [(f["input"], f["status"]) for f in report["files"]] == [
        ("img0.png", "skipped"), ("img1.png", "ok"), ("img2.png", "skipped")]
    assert report["files"][0]["reason"] == "output already complete (--resume)"

    (tmp_path / "out" / "img2.png").write_bytes(b"stale")
    assert main([*args, "--overwrite"]) == 0
    assert {f["status"] for f in _report(tmp_path / "out")["files"]} == {"ok"}
    assert Image.open(tmp_path / "out" / "img2.png").size == (16, 16)
    with pytest.raises(SystemExit) as exit_info:  # argparse: mutually exclusive
        main([*args, "--resume", "--overwrite"])
    assert exit_info.value.code == 2


def test_output_inside_input_is_refused(tmp_path, capsys):
    image = _png(tmp_path / "in" / "x.png")
    for output in (tmp_path / "in", tmp_path / "in" / "sub"):
        assert main(["denoise", str(tmp_path / "in"), str(output), "--model", "identity"]) == 2
        assert "inside the input" in capsys.readouterr().err
    assert main(["denoise", str(image), str(tmp_path / "in"), "--model", "identity"]) == 2
    assert "would replace the input" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "in").rglob("*")) == ["x.png"]
    # a single file into a folder beside it is fine
    assert main(["denoise", str(image), str(tmp_path / "out"), "--model", "identity",
                 "--quiet"]) == 0
    assert (tmp_path / "out" / "x.png").is_file()


def test_learned_spec_and_bad_checkpoint_are_usage_errors(tmp_path, capsys):
    _png(tmp_path / "in" / "x.png")
    out = str(tmp_path / "out")
    assert main(["denoise", str(tmp_path / "in"), out, "--model", "dncnn"]) == 2
    assert "learned network and a SPEC carries no trained weights" in capsys.readouterr().err
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert main(["denoise", str(tmp_path / "in"), out, "--checkpoint",
                 str(tmp_path / "junk.pt")]) == 2
    assert "checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def _write_bundle(folder: Path) -> None:
    """A bundle whose network is a 1×1 convolution with identity weights."""
    (folder / "configs").mkdir(parents=True)
    (folder / "models").mkdir()
    config = {"network_def": {"_target_": "torch.nn.Conv2d", "in_channels": 1,
                              "out_channels": 1, "kernel_size": 1}}
    (folder / "configs" / "inference.json").write_text(json.dumps(config))
    (folder / "configs" / "metadata.json").write_text(
        json.dumps({"name": "CT test bundle", "version": "0.0.1"}))
    weights = {"weight": torch.ones(1, 1, 1, 1), "bias": torch.zeros(1)}
    torch.save({"model": weights}, folder / "models" / "model.pt")


def test_bundle_chosen_by_modality_and_clear_errors(tmp_path, monkeypatch, capsys):
    bundles = tmp_path / "bundles"
    monkeypatch.setattr(denoisers, "bundle_search_path", lambda: [bundles])
    source = _ct(tmp_path / "in" / "ct.dcm")
    _png(tmp_path / "in" / "grey.png")

    # no bundle installed: each image fails with the reason; --bundle/--modality: usage error
    assert main(["denoise", str(tmp_path / "in"), str(tmp_path / "o1"), "--quiet"]) == 1
    statuses = _statuses(tmp_path / "o1")
    assert "no bundle 'ct'" in statuses["ct.dcm"][1]
    assert "--model SPEC" in statuses["ct.dcm"][1]
    assert "no bundle 'xray'" in statuses["grey.png"][1]  # a gray image gets the X-ray bundle
    for option in (["--bundle", "ct"], ["--modality", "ct"]):
        assert main(["denoise", str(tmp_path / "in"), str(tmp_path / "o2"), *option]) == 2
        assert "no bundle 'ct'" in capsys.readouterr().err

    _write_bundle(bundles / "ct_denoise")
    assert main(["denoise", str(tmp_path / "in"), str(tmp_path / "o3"), "--quiet"]) == 1
    statuses = _statuses(tmp_path / "o3")
    assert statuses["ct.dcm"][0] == "ok" and statuses["grey.png"][0] == "failed"
    out = pydicom.dcmread(tmp_path / "o3" / "ct.dcm")
    assert out.SeriesDescription.endswith("bundle CT test bundle 0.0.1 denoised")
    np.testing.assert_array_equal(out.pixel_array, source.pixel_array)
    # --bundle PATH, applied to every image whatever its modality; its configs are not
    # medden's own (a torch _target_), so it runs only with --trust-bundle
    capsys.readouterr()
    assert main(["denoise", str(tmp_path / "in"), str(tmp_path / "o4"), "--quiet",
                 "--bundle", str(bundles / "ct_denoise")]) == 2
    assert "--trust-bundle" in capsys.readouterr().err
    assert main(["denoise", str(tmp_path / "in"), str(tmp_path / "o4"), "--quiet",
                 "--bundle", str(bundles / "ct_denoise"), "--trust-bundle"]) == 0
    assert {f["model"] for f in _report(tmp_path / "o4")["files"]} == {
        "bundle CT test bundle 0.0.1"}
    capsys.readouterr()
    (bundles / "ct_denoise" / "models" / "model.pt").write_bytes(b"corrupt")
    assert main(["denoise", str(tmp_path / "in"), str(tmp_path / "o5"), "--bundle", "ct"]) == 2
    assert "cannot be loaded" in capsys.readouterr().err


def test_parallel_jobs_write_the_same_outputs(tmp_path):
    for i in range(4):
        _png(tmp_path / "in" / f"img{i}.png", seed=i, size=24)
    _ct(tmp_path / "in" / "ct.dcm")
    for jobs in ("1", "3"):
        assert main(["denoise", str(tmp_path / "in"), str(tmp_path / f"out{jobs}"),
                     "--model", "median:size=3", "--jobs", jobs, "--quiet"]) == 0
    for i in range(4):
        name = f"img{i}.png"
        assert (tmp_path / "out1" / name).read_bytes() == (tmp_path / "out3" / name).read_bytes()
    one, three = (pydicom.dcmread(tmp_path / d / "ct.dcm") for d in ("out1", "out3"))
    np.testing.assert_array_equal(one.pixel_array, three.pixel_array)
    # new UIDs come from the source UIDs and the run's settings, not from its scheduling
    assert one.SeriesInstanceUID == three.SeriesInstanceUID



def test_a_network_computing_images_side_by_side_writes_what_one_at_a_time_does(tmp_path):
    """Several images in flight (``--jobs 3``; by default for small images) share the
    bundle's scripted network and its runner, each thread with its share of torch's
    threads: the same files as one image at a time."""
    for i in range(5):
        _png(tmp_path / "in" / f"img{i}.png", seed=i, size=40)
    for jobs in (["--jobs", "1"], ["--jobs", "3"], []):
        out = tmp_path / f"out{''.join(jobs)}"
        assert main(["denoise", str(tmp_path / "in"), str(out), "--bundle", "xray", "--quiet",
                     *jobs]) == 0
    assert _report(tmp_path / "out")["options"]["jobs"] == "auto"
    for i in range(5):
        name = f"img{i}.png"
        one = (tmp_path / "out--jobs1" / name).read_bytes()
        assert one == (tmp_path / "out--jobs3" / name).read_bytes()
        assert one == (tmp_path / "out" / name).read_bytes()


@pytest.mark.skipif(importlib.util.find_spec("bm3d") is None,
                    reason="the optional bm3d package is missing")
def test_classical_filters_are_computed_one_at_a_time(tmp_path):
    """BM3D's library keeps one thread pool per process and aborts when two threads start
    it at once: with ``--jobs`` a classical filter still denoises one image at a time."""
    for i in range(4):
        _png(tmp_path / "in" / f"img{i}.png", seed=i, size=32)
    assert main(["denoise", str(tmp_path / "in"), str(tmp_path / "out"), "--model", "bm3d",
                 "--jobs", "4", "--quiet"]) == 0
    assert len(list((tmp_path / "out").glob("*.png"))) == 4

@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_writes_a_report_and_leaves_no_partial_file(tmp_path, monkeypatch, jobs):
    """The files written are those the report lists, also the writes in flight in other
    threads at the interruption (``--jobs 2``, and the default for small images), which
    finish."""
    for i in range(4):
        _png(tmp_path / "in" / f"img{i}.png", seed=i)
    import medden.process

    real_write = medden.process.write_image

    def interrupt_third(image, path, **kwargs):
        if Path(path).name == "img2.png":  # by name: writer threads may start in any order
            raise KeyboardInterrupt
        return real_write(image, path, **kwargs)

    monkeypatch.setattr(medden.process, "write_image", interrupt_third)
    out = tmp_path / "out"
    assert main(["denoise", str(tmp_path / "in"), str(out), "--model", "identity",
                 "--quiet", "--jobs", jobs]) == 130
    report = _report(out)
    assert report["interrupted"] is True
    listed = [f["input"] for f in report["files"]]
    assert all(f["status"] == "ok" for f in report["files"])
    assert sorted(p.name for p in out.iterdir()) == sorted([*listed, "report.json"])
    if jobs == "1":
        assert listed == ["img0.png", "img1.png"]
    else:
        assert listed in (["img0.png", "img1.png"], ["img0.png", "img1.png", "img3.png"])


def test_copy_of_source_dataset_is_not_modified(tmp_path):
    """Naming the denoiser in the Series Description touches only the written copies."""
    source = _ct(tmp_path / "in" / "ct.dcm", SeriesDescription="CHEST " + "x" * 58)
    before = copy.deepcopy(source)
    assert main(["denoise", str(tmp_path / "in"), str(tmp_path / "out"), "--model",
                 "median:size=3", "--quiet"]) == 0
    assert pydicom.dcmread(tmp_path / "in" / "ct.dcm") == before
    description = pydicom.dcmread(tmp_path / "out" / "ct.dcm").SeriesDescription
    assert len(description) <= 64 and description.startswith("CHEST x")
    assert description.endswith(" median:size=3 denoised")


@pytest.mark.parametrize("value", ["0", "-1"])
def test_bad_jobs_value_is_a_usage_error(tmp_path, value, capsys):
    _png(tmp_path / "in" / "x.png")
    assert main(["denoise", str(tmp_path / "in"), str(tmp_path / "out"), "--model",
                 "identity", "--jobs", value]) == 2
    assert "--jobs" in capsys.readouterr().err


def test_trained_checkpoint_is_run_and_named(tmp_path):
    pipeline = tiny_checkpoint(tmp_path / "run" / "best.pt")
    source = _png(tmp_path / "in" / "x.png", size=20)
    assert main(["denoise", str(tmp_path / "in"), str(tmp_path / "out"), "--checkpoint",
                 str(tmp_path / "run"), "--quiet"]) == 0
    with torch.no_grad():
        pixels = torch.from_numpy(np.asarray(Image.open(source), np.float32) / 255)
        expected = pipeline.eval()(pixels[None, None])[0, 0].numpy() * 255
    written = np.asarray(Image.open(tmp_path / "out" / "x.png"), np.float32)
    np.testing.assert_allclose(written, np.clip(np.rint(expected), 0, 255), atol=1)
    assert not np.array_equal(written, np.asarray(Image.open(source)))
    (entry,) = _report(tmp_path / "out")["files"]
    assert entry["model"] == "checkpoint run/best.pt (single: dncnn)"
    from medden.denoisers import load_trained_checkpoint

    tiny_checkpoint(tmp_path / "other" / "best.pt")
    labels = {load_trained_checkpoint(tmp_path / run / "best.pt").label
              for run in ("run", "other")}
    assert len(labels) == 2  # two runs' best.pt can sit side by side in a benchmark


@pytest.mark.parametrize(("trained_in", "applied_in"),
                         [("ct", "ct"), ("mri", "mri"), (None, None), ("unknown", None)])
def test_checkpoint_is_applied_in_the_intensity_convention_it_was_trained_in(
        tmp_path, trained_in, applied_in):
    from medden.denoisers import load_trained_checkpoint

    tiny_checkpoint(tmp_path / "run" / "best.pt", {"data": {"modality": trained_in}})
    assert load_trained_checkpoint(tmp_path / "run").modality == applied_in
