"""The registry core: discovery, broken and duplicate plugins, SPECs, declared parameters.

Third-party distributions are faked install-free: a ``*.dist-info`` directory (METADATA and
``entry_points.txt``) and module sources in a temporary directory put on ``sys.path``
(the ``medden_site`` fixture of :mod:`medden.testing`).
"""

from __future__ import annotations

import inspect
import json
import sys
from typing import Any, Literal

import numpy as np
import pytest
import torch
from PIL import Image

from medden.cli import main
from medden.params import build_kwargs, coerce, describe_parameters
from medden.registry import (
    DuplicatePluginError,
    PluginError,
    ShadowedPluginWarning,
    UnknownPluginError,
    model_registry,
    noise_registry,
)
from medden.spec import Spec, SpecError, load_spec_file, parse_spec, split_top_level
from medden.testing import plugin_entries, write_distribution

NOISE = "medden.noise"

ACME_NOISE = '''
"""A fake third-party noise module."""
from medden.noise import Noise


class Offset(Noise):
    """Add a constant offset (a fake third-party noise).

    Parameters
    ----------
    offset : float
        Value added to every pixel.
    """

    def __init__(self, offset: float = 0.1) -> None:
        self.offset = offset

    def apply(self, batch, generator):
        return batch + self.offset


class NotANoise:
    """The right shape of class, the wrong base class."""


def not_a_class():
    return 1
'''

ACME_RAISES = '''
raise RuntimeError("licence server unreachable")
'''


def _acme(site, name: str, entries: dict[str, str], group: str = NOISE):
    """Add a distribution ``name`` registering ``entries`` with the acme modules."""
    return site.add(name, {group: entries},
                    modules={"acme_noise.py": ACME_NOISE, "acme_raises.py": ACME_RAISES})


# --- discovery ------------------------------------------------------------------------------
def test_fake_distribution_is_discovered_lazily_and_built(medden_site):
    _acme(medden_site, "acme-medden", {"acme_offset": "acme_noise:Offset"})
    entry = noise_registry.entry("acme_offset")
    assert (entry.distribution, entry.target, entry.conflicts) == (
        "acme-medden", "acme_noise:Offset", [])
    assert "acme_offset" in noise_registry.names() and "gaussian" in noise_registry
    assert "acme_noise" not in sys.modules  # listing imports nothing

    assert noise_registry.status("acme_offset") == (
        "ok", "Add a constant offset (a fake third-party noise).")
    cls = noise_registry.load("acme_offset")
    assert noise_registry.load("acme_offset") is cls  # cached
    noise = noise_registry.create("acme_offset:offset=0.25")
    assert isinstance(noise, cls) and noise.offset == 0.25
    assert noise.spec == Spec("acme_offset", {"offset": "0.25"})
    clean = torch.zeros(1, 4, 4)
    assert torch.equal(noise(clean), clean + 0.25)


def test_refresh_forgets_uninstalled_plugins(medden_site, monkeypatch):
    _acme(medden_site, "acme-medden", {"acme_offset": "acme_noise:Offset"})
    assert "acme_offset" in noise_registry
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(medden_site.root)])
    assert "acme_offset" in noise_registry  # cached until refreshed
    noise_registry.refresh()
    assert "acme_offset" not in noise_registry


# --- broken plugins ---------------------------------------------------------------------------
BROKEN = [
    pytest.param(NOISE, "acme_raises:Offset",
                 "import of 'acme_raises:Offset' failed: RuntimeError: licence server unreachable",
                 id="import-raises"),
    pytest.param(NOISE, "acme_absent:Offset",
                 "import of 'acme_absent:Offset' failed: ModuleNotFoundError", id="no-module"),
    pytest.param(NOISE, "acme_noise:Missing",
                 "import of 'acme_noise:Missing' failed: AttributeError", id="missing-object"),
    pytest.param(NOISE, "acme_noise:not_a_class",
                 "'acme_noise:not_a_class' is a function, not a class; expected a subclass of "
                 "medden.noise.Noise", id="function"),
    pytest.param(NOISE, "acme_noise:NotANoise",
                 "'acme_noise:NotANoise' is class NotANoise (a subclass of object); expected a "
                 "subclass of medden.noise.Noise", id="wrong-class"),
    pytest.param("medden.models", "acme_noise:Offset",
                 "'acme_noise:Offset' is class Offset (a subclass of medden.noise.Noise); "
                 "expected a subclass of medden.models.Denoiser", id="noise-registered-as-model"),
]


@pytest.mark.parametrize(("group", "target", "reason"), BROKEN)
def test_broken_plugin_is_reported_and_contained(medden_site, group, target, reason):
    _acme(medden_site, "acme-broken", {"acme_bad": target}, group=group)
    registry = noise_registry if group == NOISE else model_registry
    state, detail = registry.status("acme_bad")
    assert state == "broken" and detail.startswith(reason)
    for use in (registry.load, registry.create, registry.parameters):
        with pytest.raises(PluginError) as error:
            use("acme_bad")
        message = str(error.value)
        noun = "noise" if group == NOISE else "model"  # singular: "model plugin", not "models"
        assert f"{noun} plugin 'acme_bad' (from distribution 'acme-broken') is broken" in message
        assert reason in message
    # the rest of the registry is untouched
    assert registry.status("identity" if registry is model_registry else "gaussian")[0] == "ok"


def test_medden_list_reports_each_broken_plugin_with_its_reason(medden_site, capsys):
    _acme(medden_site, "acme-broken", {
        "acme_offset": "acme_noise:Offset",
        "acme_raises": "acme_raises:Offset",
        "acme_missing": "acme_noise:Missing",
        "acme_wrong": "acme_noise:NotANoise",
    })
    assert main(["list"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()
             if line.startswith("  ")}
    assert "[BROKEN]" not in lines["gaussian"] and "[BROKEN]" not in lines["acme_offset"]
    assert "acme-broken" in lines["acme_offset"]
    assert "Add a constant offset" in lines["acme_offset"]
    for name, reason in [("acme_raises", "RuntimeError: licence server unreachable"),
                         ("acme_missing", "AttributeError"),
                         ("acme_wrong", "expected a subclass of medden.noise.Noise")]:
        assert "[BROKEN]" in lines[name] and reason in lines[name]
        assert "acme-broken" in lines[name]
    assert main(["list", "noise", "acme_raises"]) == 0
    detail = capsys.readouterr().out
    assert "from distribution 'acme-broken'" in detail and "BROKEN: import of" in detail


def test_using_a_broken_plugin_on_the_command_line_names_it(medden_site, tmp_path, capsys):
    pytest.importorskip("medden.commands.noise", reason="needs the 'medden noise' command")
    _acme(medden_site, "acme-broken", {"acme_raises": "acme_raises:Offset"})
    (tmp_path / "in").mkdir()
    status = main(["noise", str(tmp_path / "in"), str(tmp_path / "out"), "--noise", "acme_raises"])
    assert status == 2
    err = capsys.readouterr().err
    assert "'acme_raises' (from distribution 'acme-broken') is broken" in err
    assert "licence server unreachable" in err


# --- duplicates ---------------------------------------------------------------------------
def test_one_name_from_two_distributions_is_an_error_naming_both(medden_site, capsys):
    _acme(medden_site, "acme-one", {"acme_dup": "acme_noise:Offset"})
    _acme(medden_site, "acme-two", {"acme_dup": "acme_noise:Offset",
                                    "acme_only_two": "acme_noise:Offset"})
    for use in (noise_registry.entry, noise_registry.load, noise_registry.create):
        with pytest.raises(DuplicatePluginError) as error:
            use("acme_dup")
        message = str(error.value)
        assert "'acme-one'" in message and "'acme-two'" in message
        assert "'acme_one.acme_dup' or 'acme_two.acme_dup'" in message  # how to pick one
    state, detail = noise_registry.status("acme_dup")
    assert state == "duplicate" and "acme-one" in detail and "acme-two" in detail
    assert noise_registry.status("acme_only_two")[0] == "ok"
    assert main(["list", "noise"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("  acme_dup "))
    assert "[DUPLICATE]" in line and "acme-two" in line


def test_a_qualified_name_reaches_one_distribution_of_a_duplicate(medden_site, capsys):
    _acme(medden_site, "acme-one", {"acme_dup": "acme_noise:Offset"})
    _acme(medden_site, "Acme.Two", {"acme_dup": "acme_noise:Offset"})
    assert noise_registry.entry("acme_one.acme_dup").distribution == "acme-one"
    assert noise_registry.entry("acme-two.acme_dup").distribution == "Acme.Two"
    noise = noise_registry.create("acme_two.acme_dup:offset=0.5")
    assert noise.offset == 0.5 and noise.spec.name == "acme_two.acme_dup"
    assert "acme_one.acme_dup" in noise_registry and "acme_three.acme_dup" not in noise_registry
    with pytest.raises(UnknownPluginError,
                       match="'acme_dup' is registered as 'acme_one.acme_dup', "
                             "'acme_two.acme_dup'"):
        noise_registry.entry("acme_three.acme_dup")
    assert plugin_entries("acme-one", "noise") == ["acme_one.acme_dup"]
    assert main(["list", "noise", "acme_dup"]) == 0  # shows both instead of failing
    out = capsys.readouterr().out
    assert "acme_one.acme_dup (noise, from distribution 'acme-one'" in out
    assert "acme_two.acme_dup (noise, from distribution 'Acme.Two'" in out
    assert out.count("offset: float = 0.1") == 2


def test_medden_wins_a_name_a_plugin_shadows_and_warns(medden_site):
    with pytest.warns(ShadowedPluginWarning) as warned:
        _acme(medden_site, "acme-shadow", {"gaussian": "acme_noise:Offset"})
        noise = noise_registry.create("gaussian:sigma=5")
    (message,) = [str(w.message) for w in warned]  # once, whatever uses the name
    assert message == ("noise 'gaussian' of distribution 'acme-shadow' is shadowed by medden's "
                       "own 'gaussian'; reach it as 'acme_shadow.gaussian'")
    assert noise_registry.entry("gaussian").distribution == "medden"
    assert type(noise).__name__ == "GaussianNoise" and noise.sigma == 5.0
    assert noise_registry.status("gaussian")[0] == "ok"
    shadowed = noise_registry.create("acme_shadow.gaussian:offset=0.2")
    assert type(shadowed).__name__ == "Offset" and shadowed.offset == 0.2
    assert noise_registry.entry("acme_shadow.gaussian").shadowed_by == "medden"
    assert [e.distribution for e in noise_registry.candidates("gaussian")] == [
        "medden", "acme-shadow"]
    assert plugin_entries("acme-shadow", "noise") == ["acme_shadow.gaussian"]
    assert noise_registry.create("medden.gaussian").sigma == 25.0


def test_medden_commands_keep_working_beside_a_shadowing_plugin(medden_site, tmp_path, capsys):
    pytest.importorskip("medden.commands.noise", reason="needs the 'medden noise' command")
    _acme(medden_site, "acme-medden-with-a-long-name", {"gaussian": "acme_noise:Offset"})
    assert main(["list", "noise"]) == 0
    out, err = capsys.readouterr()
    assert err == ("medden list: warning: noise 'gaussian' of distribution "
                   "'acme-medden-with-a-long-name' is shadowed by medden's own 'gaussian'; "
                   "reach it as 'acme_medden_with_a_long_name.gaussian'\n")  # one line, once
    rows = [line for line in out.splitlines() if line.startswith("  ")]
    shadowed = next(row for row in rows if row.split()[0] == "acme_medden_with_a_long_name."
                                                           "gaussian")
    assert "[SHADOWED] by medden's 'gaussian'" in shadowed
    assert "Add a constant offset" in shadowed
    assert next(row for row in rows if row.split()[0] == "gaussian").split()[1] == "medden"
    # one column for the distribution, however long its name: the details line up
    starts = {row.index(row.split()[2]) for row in rows if "[" not in row}
    assert len(starts) == 1

    assert main(["list", "noise", "gaussian"]) == 0  # both, instead of exit status 2
    out = capsys.readouterr().out
    assert "gaussian (noise, from distribution 'medden'" in out
    assert "acme_medden_with_a_long_name.gaussian (noise, from distribution " in out
    assert "SHADOWED by medden's 'gaussian'" in out

    (tmp_path / "in").mkdir()
    Image.fromarray(np.full((16, 16), 128, np.uint8)).save(tmp_path / "in" / "a.png")
    assert main(["noise", str(tmp_path / "in"), str(tmp_path / "out"), "--noise",
                 "gaussian:sigma=20", "--quiet"]) == 0
    noisy = np.asarray(Image.open(tmp_path / "out" / "a.png")).astype(float)
    assert 10 < noisy.std() < 30  # medden's Gaussian noise, not the plugin's offset


def test_one_distribution_twice_on_sys_path_is_not_a_duplicate(medden_site, tmp_path,
                                                                monkeypatch):
    entries = {NOISE: {"acme_offset": "acme_noise:Offset"}}
    medden_site.add("acme-medden", entries, modules={"acme_noise.py": ACME_NOISE})
    write_distribution(tmp_path / "copy", "acme-medden", entries)
    monkeypatch.syspath_prepend(str(tmp_path / "copy"))
    noise_registry.refresh()
    assert noise_registry.entry("acme_offset").conflicts == []
    assert noise_registry.status("acme_offset")[0] == "ok"


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(UnknownPluginError) as error:
        noise_registry.entry("acme_nothing")
    assert isinstance(error.value, SpecError)
    assert "unknown noise 'acme_nothing'; valid names: " in str(error.value)
    assert "gaussian" in str(error.value)
    with pytest.raises(UnknownPluginError):
        noise_registry.status("acme_nothing")


# --- SPEC parsing -----------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "name", "params"), [
    ("gaussian", "gaussian", {}),
    (" gaussian : sigma = 25 , sigma_max=50 ", "gaussian", {"sigma": "25", "sigma_max": "50"}),
    ("(gaussian:sigma=5)", "gaussian", {"sigma": "5"}),
    ("masked:noise=(gaussian:sigma=50),mask_sigma=0.4", "masked",
     {"noise": "gaussian:sigma=50", "mask_sigma": "0.4"}),
    ("masked:noise=speckle,sigma=25", "masked", {"noise": "speckle", "sigma": "25"}),
    ("random_choice:noises=[gaussian:sigma=25|(speckle:sigma=20)|salt_pepper]",
     "random_choice", {"noises": "[gaussian:sigma=25|(speckle:sigma=20)|salt_pepper]"}),
    ("random_choice:noises=(gaussian:sigma=5)|(speckle)", "random_choice",
     {"noises": "(gaussian:sigma=5)|(speckle)"}),
    ("masked:noise=(random_choice:noises=[gaussian|(speckle:sigma=3,sigma_max=9)]),mask_sigma=1",
     "masked", {"noise": "random_choice:noises=[gaussian|(speckle:sigma=3,sigma_max=9)]",
                "mask_sigma": "1"}),
])
def test_spec_strings(text, name, params):
    assert parse_spec(text) == Spec(name, params)


def test_spec_mappings_and_specs():
    nested = {"name": "masked", "params": {"noise": {"name": "speckle", "params": {"sigma": 20}}}}
    assert parse_spec(nested) == Spec("masked", {"noise": {"name": "speckle",
                                                           "params": {"sigma": 20}}})
    merged = parse_spec({"name": "gaussian:sigma=5", "params": {"sigma_max": 9}})
    assert merged == Spec("gaussian", {"sigma": "5", "sigma_max": 9})
    assert parse_spec({"name": "gaussian"}) == Spec("gaussian")
    spec = Spec("gaussian", {"sigma": 3})
    assert parse_spec(spec) is spec


@pytest.mark.parametrize(("spec", "message"), [
    ("", "empty SPEC"),
    ("  ()  ", "empty SPEC"),
    ("Gaussian", "bad plugin name 'Gaussian'"),
    ("9lives", "bad plugin name"),
    ("gaussian:sigma", "bad parameter 'sigma'"),
    ("gaussian:=3", "expected key=value"),
    ("gaussian:Sigma=3", "bad parameter 'Sigma=3'"),
    ("gaussian:sigma=1,sigma=2", "parameter 'sigma' given twice"),
    ("masked:noise=(gaussian", "unclosed bracket"),
    ("masked:noise=gaussian)", "unbalanced ')'"),
    ("random_choice:noises=[a|b)", "unbalanced ')'"),
    (42, "cannot read a SPEC from int"),
    ({"params": {}}, "needs 'name'"),
    ({"name": "gaussian", "extra": 1}, "needs 'name' and optional 'params'"),
    ({"name": "gaussian", "params": [1]}, "must be a mapping"),
])
def test_bad_specs(spec, message):
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[")):
        parse_spec(spec)


def test_split_top_level_respects_brackets():
    assert split_top_level("a=(b,c),d=[e|f,g],h", ",") == ["a=(b,c)", "d=[e|f,g]", "h"]
    assert split_top_level("", ",") == [""]


def test_spec_string_round_trip_rebuilds_nested_and_list_values():
    spec = Spec("random_choice", {"noises": [Spec("gaussian", {"sigma": 5}), Spec("speckle")],
                                  "weights": [1, 2]})
    text = str(spec)
    assert text == "random_choice:noises=[(gaussian:sigma=5)|speckle],weights=[1|2]"
    noise = noise_registry.create(text)
    assert [(n.spec.name, getattr(n, "sigma", None)) for n in noise.noises] == [
        ("gaussian", 5.0), ("speckle", 25.0)]
    assert noise.weights.tolist() == [1.0, 2.0]
    assert spec.to_dict() == {"name": "random_choice", "params": {
        "noises": [{"name": "gaussian", "params": {"sigma": 5}},
                   {"name": "speckle", "params": {}}],
        "weights": [1, 2]}}


def test_nested_mapping_spec_builds_through_the_registry():
    noise = noise_registry.create({"name": "masked", "params": {
        "noise": {"name": "speckle", "params": {"sigma": 20}}, "mask_sigma": 0.5}})
    assert (type(noise.inner).__name__, noise.inner.sigma, noise.mask_sigma) == (
        "SpeckleNoise", 20.0, 0.5)


def test_spec_files(tmp_path):
    (tmp_path / "noise.json").write_text(json.dumps({"name": "gaussian",
                                                     "params": {"sigma": 12}}))
    assert load_spec_file(tmp_path / "noise.json") == Spec("gaussian", {"sigma": 12})
    (tmp_path / "noise.yaml").write_text(
        "name: masked\nparams:\n  noise: {name: speckle, params: {sigma: 20}}\n")
    assert load_spec_file(tmp_path / "noise.yaml").params["noise"]["params"] == {"sigma": 20}
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SpecError, match="not valid JSON/YAML"):
        load_spec_file(tmp_path / "bad.json")
    (tmp_path / "list.yaml").write_text("- gaussian\n")
    with pytest.raises(SpecError, match="cannot read a SPEC from list"):
        load_spec_file(tmp_path / "list.yaml")
    with pytest.raises(SpecError, match="cannot read spec file"):
        load_spec_file(tmp_path / "absent.yaml")


# --- parameter coercion -----------------------------------------------------------------------
@pytest.mark.parametrize(("value", "annotation", "expected"), [
    ("3", int, 3),
    ("3.0", int, 3),
    ("1e3", int, 1000),
    ("2.5", float, 2.5),
    (4, float, 4.0),
    ("yes", bool, True),
    ("Off", bool, False),
    (False, bool, False),
    ("none", float | None, None),
    ("Null", int | None, None),
    ("7", int | None, 7),
    ("b", Literal["a", "b"], "b"),
    ("[1|2|3]", tuple[int, ...], (1, 2, 3)),
    ("1|2", list[float], [1.0, 2.0]),
    ("[]", list[int], []),
    ("[1|x]", tuple[int, str], (1, "x")),
    ([1, "2"], list[int], [1, 2]),
    ("gaussian:sigma=3", Spec, Spec("gaussian", {"sigma": "3"})),
    ({"name": "speckle"}, Spec, Spec("speckle")),
    ("speckle", Spec | str, Spec("speckle")),
    ("[gaussian|(speckle:sigma=2)]", tuple[Spec, ...], (Spec("gaussian"),
                                                       Spec("speckle", {"sigma": "2"}))),
    ("abc", str, "abc"),
    ("25", inspect.Parameter.empty, "25"),
    ("x", Any, "x"),
])
def test_coerce(value, annotation, expected):
    result = coerce(value, annotation, "p")
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(("value", "annotation", "message"), [
    ("abc", float, "parameter 'p' must be float, got 'abc'"),
    ("1.5", int, "parameter 'p' must be a whole number, got '1.5'"),
    ("maybe", bool, "parameter 'p' must be true or false"),
    (True, int, "parameter 'p' must be a number"),
    ("c", Literal["a", "b"], "parameter 'p' must be one of ['a', 'b']"),
    ("[1|2|3]", tuple[int, int], "parameter 'p' needs 2 values"),
    ("x", int | None, "parameter 'p': 'x' fits none of int | None"),
    (5, str, "parameter 'p' must be a string"),
    ("Bad Name", Spec, "parameter 'p': bad plugin name"),
    ("[1|(2]", list[int], "parameter 'p'|unclosed bracket"),
])
def test_coerce_errors_name_the_parameter(value, annotation, message):
    with pytest.raises(SpecError) as error:
        coerce(value, annotation, "p")
    assert any(part in str(error.value) for part in message.split("|"))


GAUSSIAN = Spec("gaussian")


class Toy:
    """A toy plugin class.

    More description that is not the summary.

    Parameters
    ----------
    size : int
        Window side
        in pixels.
    low, high : float
        Range ends.
    mode : {'a', 'b'}
        Mode of operation.

    Notes
    -----
    extra : int
        Not a parameter: this section is not read.
    """

    def __init__(self, size: int, low: float = 0.0, high: float | None = None,
                 mode: Literal["a", "b"] = "a", spec: Spec = GAUSSIAN, *args,
                 untyped=3, **extra: Any) -> None:
        self.kwargs = dict(size=size, low=low, high=high, mode=mode, spec=spec,
                           untyped=untyped, **extra)


def test_describe_parameters_reads_signature_and_docstring():
    params = {p.name: p for p in describe_parameters(Toy)}
    assert list(params) == ["size", "low", "high", "mode", "spec", "untyped"]
    assert params["size"].required and params["size"].type_name == "int"
    assert params["size"].help == "Window side in pixels."
    assert (params["low"].help, params["high"].help) == ("Range ends.", "Range ends.")
    assert params["high"].type_name == "float | None" and params["high"].default is None
    assert params["mode"].type_name == "Literal['a', 'b']" and params["mode"].help
    assert params["spec"].type_name == "Spec" and params["spec"].default == Spec("gaussian")
    assert (params["untyped"].type_name, params["untyped"].help) == ("any", "")
    assert not params["low"].required


def test_subclasses_inherit_the_descriptions_they_do_not_repeat():
    class Wider(Toy):
        """A toy that documents only what it changes.

        Parameters
        ----------
        size : int
            Window side in pixels, at least 3.
        """

    params = {p.name: p for p in describe_parameters(Wider)}
    assert params["size"].help == "Window side in pixels, at least 3."
    assert params["low"].help == "Range ends." and params["mode"].help
    rescnn = {p.name: p.help for p in describe_parameters(model_registry.load("rescnn"))}
    assert rescnn["depth"] == "Number of convolution layers (at least 2)."


def test_registered_parameters_come_from_the_plugin():
    sigma = next(p for p in noise_registry.parameters("gaussian") if p.name == "sigma")
    assert (sigma.type_name, sigma.default) == ("float", 25.0)
    assert sigma.help.startswith("Standard deviation")


def test_build_kwargs_types_values_and_reports_mistakes():
    kwargs = build_kwargs(Toy, {"size": "5", "high": "none", "mode": "b", "colour": "red"},
                          where="toy 'x'")
    assert kwargs == {"size": 5, "high": None, "mode": "b", "colour": "red"}  # **extra kept
    with pytest.raises(SpecError, match=r"toy 'x' needs parameter\(s\): size"):
        build_kwargs(Toy, {}, where="toy 'x'")
    with pytest.raises(SpecError, match="toy 'x': parameter 'size' must be int"):
        build_kwargs(Toy, {"size": "big"}, where="toy 'x'")

    class Strict:
        def __init__(self, sigma: float = 1.0, mode: str = "a") -> None: ...

    with pytest.raises(SpecError,
                       match="strict has no parameter 'colour'; valid parameters: sigma, mode"):
        build_kwargs(Strict, {"colour": "red"}, where="strict")


def test_create_names_the_plugin_in_value_errors():
    with pytest.raises(SpecError, match="noise 'gaussian': parameter 'sigma' must be float"):
        noise_registry.create("gaussian:sigma=abc")
    with pytest.raises(SpecError, match="noise 'gaussian': sigma must be >= 0"):
        noise_registry.create("gaussian:sigma=-1")
    noise = noise_registry.create("gaussian:sigma=5", sigma_max=9.0)
    assert (noise.sigma, noise.sigma_max) == (5.0, 9.0)
    assert noise.spec == Spec("gaussian", {"sigma": "5", "sigma_max": 9.0})


@pytest.mark.parametrize("spec", [
    {"name": "single", "params": {"model": {"name": "noise_aware_unet",
                                            "params": {"in_channels": 1, "features": [8, 16]}}}},
    "single:model=(noise_aware_unet:in_channels=1,features=[8|16])",
])
def test_nested_spec_prints_in_a_form_that_parses_back(spec):
    text = str(parse_spec(spec))
    assert text == "single:model=(noise_aware_unet:in_channels=1,features=[8|16])"
    assert str(parse_spec(text)) == text
