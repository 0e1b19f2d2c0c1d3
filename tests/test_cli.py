"""The ``medden`` command: listing, usage errors, and the noise/evaluate round trip."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from medden.cli import main


def _write_pngs(folder, count=2, size=64):
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(count):
        img = (127 + 80 * np.sin(xx / (6 + i)) * np.cos(yy / 9)).astype(np.uint8)
        Image.fromarray(img).save(folder / f"img{i}.png")


def test_list_shows_plugins_and_parameters(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("gaussian", "masked", "median", "identity", "single"):
        assert f"  {name} " in out
    assert main(["list", "noise", "gaussian"]) == 0
    out = capsys.readouterr().out
    assert "sigma: float = 25.0" in out


def test_list_unknown_name_is_a_usage_error(capsys):
    assert main(["list", "noise", "no_such_noise"]) == 2
    assert "no plugin named 'no_such_noise'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "spec, message",
    [
        ("no_such_noise", "unknown noise 'no_such_noise'; valid names: "),
        ("gaussian:sigma=abc", "parameter 'sigma' must be float"),
        ("gaussian:colour=red", "has no parameter 'colour'; valid parameters: sigma"),
        ("gaussian:sigma", "expected key=value"),
    ],
)
def test_bad_noise_spec_exits_2_with_one_clear_line(tmp_path, capsys, spec, message):
    _write_pngs(tmp_path / "in", count=1)
    assert main(["noise", str(tmp_path / "in"), str(tmp_path / "out"), "--noise", spec]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_noise_then_evaluate(tmp_path, capsys):
    _write_pngs(tmp_path / "clean")
    args = ["noise", str(tmp_path / "clean"), str(tmp_path / "noisy"),
            "--noise", "gaussian:sigma=25", "--seed", "3", "--quiet"]
    assert main(args) == 0
    first = np.asarray(Image.open(tmp_path / "noisy" / "img0.png"))
    assert main(args[:2] + [str(tmp_path / "noisy2")] + args[3:]) == 0
    assert np.array_equal(first, np.asarray(Image.open(tmp_path / "noisy2" / "img0.png")))
    report = json.loads((tmp_path / "noisy" / "report.json").read_text())
    assert report["counts"] == {"ok": 2, "skipped": 0, "failed": 0}
    assert main(["evaluate", "--reference", str(tmp_path / "clean"), "--test",
                 str(tmp_path / "noisy"), "--json", str(tmp_path / "m.json")]) == 0
    rows = json.loads((tmp_path / "m.json").read_text())["rows"]
    mean = rows[-1]
    assert mean["file"] == "mean"
    # sigma 25 on 8-bit: PSNR about 20.2 dB (a bit higher: clipping at 0/255 and rounding)
    assert 19.5 < mean["psnr"] < 22.0


def test_denoise_with_classical_filter_improves_psnr(tmp_path):
    _write_pngs(tmp_path / "clean")
    assert main(["noise", str(tmp_path / "clean"), str(tmp_path / "noisy"),
                 "--noise", "gaussian:sigma=25", "--quiet"]) == 0
    assert main(["denoise", str(tmp_path / "noisy"), str(tmp_path / "den"),
                 "--model", "gaussian_filter:sigma=1.5", "--quiet"]) == 0
    from medden.evaluation import evaluate_folders

    noisy, _ = evaluate_folders(tmp_path / "clean", tmp_path / "noisy")
    den, _ = evaluate_folders(tmp_path / "clean", tmp_path / "den")
    assert den[-1]["psnr"] > noisy[-1]["psnr"] + 3.0


def test_output_inside_input_is_refused(tmp_path, capsys):
    _write_pngs(tmp_path / "in", count=1)
    code = main(["noise", str(tmp_path / "in"), str(tmp_path / "in" / "out"),
                 "--noise", "gaussian"])
    assert code == 2
    assert "inside the input" in capsys.readouterr().err


def test_console_script_help():
    result = subprocess.run([sys.executable, "-m", "medden.cli", "--help"],
                            capture_output=True, text=True, check=True)
    for command in ("list", "noise", "denoise", "evaluate", "demo"):
        assert command in result.stdout


#: Packages that take seconds to import; building the parser must not import them.
HEAVY = ("torch", "monai", "ignite", "skimage", "scipy", "numpy", "pydicom")

_IMPORTED_BY_HELP = """
import contextlib, io, sys
from medden.cli import main
for argv in ([], *([name] for name in sys.argv[1:])):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        main([*argv, "--help"])
print(" ".join(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def test_help_imports_no_heavy_package():
    """``medden --help`` and every ``medden COMMAND --help`` stay fast: the parser is built
    without torch, MONAI, ignite, scikit-image, SciPy, numpy or pydicom (a command imports
    them when it runs)."""
    from medden.cli import COMMANDS

    script = _IMPORTED_BY_HELP.format(heavy=HEAVY)
    result = subprocess.run([sys.executable, "-c", script, *COMMANDS], capture_output=True,
                            text=True, check=True)
    assert result.stdout.split() == []
