"""Checkpoints and bundles record the plugin distributions they need and name a missing one.

A fake third-party distribution (``acme-medden`` 1.2.3, registering the network
``acme_net``) is installed install-free with the ``medden_site`` fixture, a network is
trained with it and bundled, then the distribution is "uninstalled" (its folder taken off
``sys.path``) and everything that opens the checkpoint or the bundle must say which package
to install.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from _train_support import tiny_config, write_images
from monai.bundle import ConfigParser

from medden.cli import main
from medden.denoisers import load_bundle
from medden.errors import UsageError
from medden.registry import model_registry, noise_registry, recording_plugins, registries
from medden.requirements import missing, plugins_needed, require_installed, requirements
from medden.train import config_from_dict, load_checkpoint, read_checkpoint, train
from medden.train.finetune import finetune_config

INFO = Path(__file__).resolve().parents[1] / "configs" / "bundles" / "xray_denoise.info.yaml"
DISTRIBUTION = "acme-medden"
VERSION = "1.2.3"

ACME_NET = '''
"""A fake third-party network."""
from torch import nn

from medden.models import Denoiser


class AcmeNet(Denoiser):
    """One convolution that predicts the noise (a fake third-party network).

    Parameters
    ----------
    in_channels : int
        Image channels.
    """

    def __init__(self, in_channels: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, 3, padding=1)

    def forward(self, x):
        return x - self.conv(x)
'''

HINT = f"'{DISTRIBUTION}' (version {VERSION} was used), not installed here; install it: " \
       f"pip install {DISTRIBUTION}"


def _install(site) -> None:
    site.add(DISTRIBUTION, {"medden.models": {"acme_net": "acme_net:AcmeNet"}},
             version=VERSION, modules={"acme_net.py": ACME_NET})


def _uninstall(site, monkeypatch) -> None:
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(site.root)])
    for registry in registries.values():
        registry.refresh()


def test_recording_lists_third_party_distributions_of_nested_plugins(medden_site):
    _install(medden_site)
    with recording_plugins() as outer:
        with recording_plugins() as inner:
            noise_registry.create("masked:noise=speckle")
        model_registry.create("acme_net")
        model_registry.create("acme_net")
    assert [e.name for e in inner] == ["masked", "speckle"]
    assert [e.name for e in outer] == ["masked", "speckle", "acme_net"]  # each once
    assert requirements(inner) == {}  # medden's own plugins need nothing more
    assert requirements(outer) == {DISTRIBUTION: VERSION}
    assert missing({DISTRIBUTION: VERSION, "acme-absent": "0.1"}) == {"acme-absent": "0.1"}
    require_installed({DISTRIBUTION: VERSION}, "this")
    with pytest.raises(UsageError, match="this needs plugins from 'acme-absent' \\(version 0.1"):
        require_installed({"acme-absent": "0.1"}, "this")


def test_plugin_errors_pass_unchanged_when_nothing_required_is_missing(medden_site):
    _install(medden_site)
    with pytest.raises(Exception, match="^unknown model 'acme_gone'") as error:
        with plugins_needed({DISTRIBUTION: VERSION}, "this"):
            model_registry.create("acme_gone")
    assert not isinstance(error.value, UsageError)


def test_a_plugin_network_names_its_package_where_it_is_missing(medden_site, monkeypatch,
                                                               tmp_path, capsys):
    _install(medden_site)
    data = write_images(tmp_path / "data", count=4)
    best = train(config_from_dict(tiny_config(data, tmp_path / "run", epochs=1,
                                              pipeline="prefiltered:model=acme_net"))).best
    assert read_checkpoint(best)["run"]["plugins"] == {DISTRIBUTION: VERSION}
    folder = tmp_path / "acme_bundle"
    assert main(["bundle", str(best), str(folder), "--info", str(INFO)]) == 0
    metadata = json.loads((folder / "configs" / "metadata.json").read_text())
    assert metadata["required_packages_version"][DISTRIBUTION] == VERSION
    network_def = json.loads((folder / "configs" / "inference.json").read_text())["network_def"]
    assert network_def["plugins"] == {DISTRIBUTION: VERSION}
    load_bundle(folder)  # opens while the plugin is installed

    _uninstall(medden_site, monkeypatch)
    with pytest.raises(UsageError) as error:
        load_checkpoint(best)
    assert HINT in str(error.value) and "unknown model 'acme_net'" in str(error.value)
    with pytest.raises(UsageError, match=HINT.replace("(", r"\(").replace(")", r"\)")):
        load_bundle(folder)
    with pytest.raises(UsageError, match="fine-tuning .* needs plugins from 'acme-medden'"):
        finetune_config(best, [str(data)], str(tmp_path / "tuned"))

    source = write_images(tmp_path / "in", count=1)
    assert main(["denoise", str(source), str(tmp_path / "out"), "--bundle", str(folder),
                 "--quiet"]) == 2
    assert HINT in capsys.readouterr().err
    assert main(["denoise", str(source), str(tmp_path / "out2"), "--checkpoint", str(best),
                 "--quiet"]) == 2
    assert HINT in capsys.readouterr().err
    parser = ConfigParser()  # what MONAI's tools (verify_net_in_out, ckpt_export) do
    parser.read_config(folder / "configs" / "inference.json")
    with pytest.raises(RuntimeError, match="Failed to instantiate component "
                                           "'medden.bundle.network'") as error:
        parser.get_parsed_content("network_def")
    assert HINT in str(error.value.__cause__)  # printed above MONAI's own message
