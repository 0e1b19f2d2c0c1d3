"""``--strength S``: out = x + S * (denoised - x), in ``medden denoise`` (and so in serve
and the bundles' inference config, which run it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from pydicom.data import get_testdata_file

from medden.cli import main
from medden.strength import blend

CT_SMALL = Path(get_testdata_file("CT_small.dcm"))


def _denoise(tmp_path: Path, name: str, *strength: str) -> pydicom.Dataset:
    out = tmp_path / name
    assert main(["denoise", str(CT_SMALL), str(out), "--model", "median:size=5", "--quiet",
                 *strength]) == 0
    return pydicom.dcmread(out / CT_SMALL.name)


def test_strength_0_gives_the_input_1_todays_output_and_between_a_blend(tmp_path):
    source = pydicom.dcmread(CT_SMALL)
    today = _denoise(tmp_path, "today")
    full = _denoise(tmp_path, "one", "--strength", "1")
    none = _denoise(tmp_path, "zero", "--strength", "0")
    half = _denoise(tmp_path, "half", "--strength", "0.5")
    np.testing.assert_array_equal(full.pixel_array, today.pixel_array)
    assert full.DerivationDescription == today.DerivationDescription
    assert "strength" not in today.DerivationDescription
    np.testing.assert_array_equal(none.pixel_array, source.pixel_array)
    x, d = source.pixel_array.astype(float), today.pixel_array.astype(float)
    assert np.abs(half.pixel_array - (x + 0.5 * (d - x))).max() <= 1  # rounding to integers
    assert "strength 0.5" in half.DerivationDescription
    assert half.SeriesInstanceUID != today.SeriesInstanceUID  # another run, other UIDs


def test_blend_at_the_ends_is_exact():
    x, d = torch.rand(1, 5, 5), torch.rand(1, 5, 5)
    assert blend(x, d.clone(), 1.0).equal(d)
    assert blend(x, d.clone(), 0.0).equal(x)
    assert torch.allclose(blend(x, d.clone(), 0.25), x + 0.25 * (d - x))


@pytest.mark.parametrize("value", ["-0.1", "1.5", "high"])
def test_strength_outside_0_to_1_is_a_usage_error(tmp_path, value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["denoise", str(CT_SMALL), str(tmp_path / "out"), "--strength", value])
    assert exit_info.value.code == 2
    assert "--strength" in capsys.readouterr().err
