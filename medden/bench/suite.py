"""A whole benchmark run: quality tables, ablation, curves, cost, figures, report.

:func:`run_benchmark` writes into the output folder:

* ``benchmark.md`` -- every table and figure, with the command and the machine;
* ``quality.csv`` (mean metrics per modality, noise, level and model), ``ablation.csv``,
  ``per_image.csv`` (every image, condition and model, with the oracle's chosen
  settings), ``curves.csv`` and ``cost.csv``;
* ``curves_<modality>_<noise>.png`` and ``figure_<modality>.png``.

Everything but the cost measurements (times, memory) is the same from one run of the same
command to the next, and whatever the number of processes: in a distributed run
(:mod:`medden.distributed`) each rank scores its part of the images (:mod:`medden.shard`)
and rank 0 gathers the records, in the order of one process, and does the rest; a
``--shard`` run scores its part only and also writes its exact records
(:data:`medden.bench.merge.RECORDS_NAME`) for ``medden report benchmark``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Collection, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from medden.bench import report
from medden.bench.conditions import (
    CURVE_INPUT_PSNR,
    Condition,
    NoiseSetting,
    ablation_conditions,
    ablation_level,
    quality_conditions,
)
from medden.bench.config import BenchmarkConfig
from medden.bench.cost_table import (
    estimate_seconds,
    measure_costs,
    metric_seconds,
    reference_label,
    speed_bar,
)
from medden.bench.curves import curve_file_name, plot_curves, validity_curves
from medden.bench.data import BenchImage, image_order, load_images, shard_images
from medden.bench.merge import RECORDS_NAME, write_records
from medden.bench.methods import Method, resolve_methods, self_ensembled, with_sigma
from medden.bench.oracle import OracleTuner
from medden.bench.qualitative import figure_images, qualitative_figure
from medden.bench.runner import (
    ORACLE_SUFFIX,
    TRUE_PSD_SUFFIX,
    TRUE_SIGMA_SUFFIX,
    QualityResult,
    run_quality,
)
from medden.bench.tables import (
    RECORD_COLUMNS,
    SUMMARY_COLUMNS,
    failed_outputs,
    summarise,
    write_csv,
)
from medden.errors import UsageError
from medden.shard import Shard

__all__ = ["run_benchmark"]

#: Estimated run times (seconds) from which the estimate is printed.
_ESTIMATE_FROM = 30.0


def _unique(conditions: Sequence[Condition]) -> list[Condition]:
    return list({c.key: c for c in conditions}.values())


def _by_modality(images: Sequence[BenchImage], count: int) -> dict[str, list[BenchImage]]:
    groups: dict[str, list[BenchImage]] = {}
    for image in images:
        if len(groups.setdefault(image.modality, [])) < count:
            groups[image.modality].append(image)
    return groups


def _tuned(methods: Sequence[Method], config: BenchmarkConfig) -> list[Method]:
    """The methods oracle-tuned: all tunable ones, or those of ``--oracle-models``.

    Raises
    ------
    UsageError
        When ``--oracle-models`` names a model that is not a tunable classical filter.
    """
    if not config.runs("oracle"):
        return []
    if config.oracle_models is None:
        return [m for m in methods if m.scored and m.tunable]
    chosen = [m for m in methods if m.label in config.oracle_models]
    for method in chosen:
        if not method.tunable:
            raise UsageError(f"--oracle-models: '{method.label}' is not a classical filter "
                             "with a tuning grid")
    return chosen


def _table_models(methods: Sequence[Method], tuners: dict[str, OracleTuner],
                  informed: Collection[str]) -> list[str]:
    labels = []
    for method in methods:
        if method.scored:
            labels.append(method.label)
            if method.label in tuners:
                labels.append(method.label + ORACLE_SUFFIX)
            if method.label in informed:
                labels.append(method.label + TRUE_SIGMA_SUFFIX)
                if getattr(method.network, "accepts_psd", False):
                    labels.append(method.label + TRUE_PSD_SUFFIX)
    return labels


def _announce(seconds: float, config: BenchmarkConfig) -> None:
    if config.progress and seconds > _ESTIMATE_FROM:
        print(f"estimated run time: about {seconds / 60:.1f} min "
              "(from the cost measurements; the progress bars refine it)", file=sys.stderr)


def _estimate(costs: list[dict[str, Any]], methods: list[Method],
              tuners: dict[str, OracleTuner], images: list[BenchImage], conditions: int,
              tuned_conditions: int, curve_runs: int, channels: int, workers: int) -> float:
    scored = {m.label for m in methods if m.scored}
    rows = [r for r in costs if r["name"] in scored]
    pixels = sum(image.clean.shape[-1] * image.clean.shape[-2] for image in images)
    per_score = metric_seconds(channels)
    plain = estimate_seconds(rows, {}, pixels, conditions, per_score)
    oracle = estimate_seconds([r for r in rows if r["name"] in tuners],
                              {m: len(tuner) for m, tuner in tuners.items()}, pixels,
                              tuned_conditions, per_score)
    curves = estimate_seconds(rows, {}, pixels // max(len(images), 1), curve_runs, 0.0)
    return (plain + oracle) / min(workers, max(len(images), 1)) + curves


#: Parts a ``--shard`` run leaves out (they need every image, or time one machine).
_UNSHARDED = {"curves", "cost", "figures"}


def _gathered(quality: QualityResult) -> QualityResult:
    """Every rank's records, in the order of one process over all images, and kept outputs."""
    from medden import distributed

    parts = distributed.gather(quality)
    records = [record for part in parts for record in part.records]
    records.sort(key=lambda record: image_order(record["image"]))
    return QualityResult(records, {k: v for part in parts for k, v in part.kept.items()})


def run_benchmark(config: BenchmarkConfig, rank: Shard | None = None) -> Path | None:
    """Run the benchmark described by ``config``; returns the path of ``benchmark.md``.

    Parameters
    ----------
    config : BenchmarkConfig
        What to run; with ``config.shard``, only that part of the quality tables.
    rank : Shard, optional
        This process's rank in a distributed run (:func:`medden.distributed.world`): it
        scores its part of the images; rank 0 gathers them and writes everything, the
        other ranks return None.

    Raises
    ------
    UsageError
        On unusable options, models, noises or data.
    """
    start = time.perf_counter()
    if config.shard is not None and rank is not None:
        raise UsageError("--shard is for independent jobs; under torchrun or srun the ranks "
                         "split the images by themselves")
    if config.shard is not None and _UNSHARDED - config.skip:
        print(f"note: --shard leaves out {', '.join(sorted(_UNSHARDED - config.skip))}",
              file=sys.stderr)
        config = replace(config, skip=config.skip | _UNSHARDED)
    lead = rank is None or rank.index == 0
    if not lead:
        config = replace(config, progress=False)
    settings = [NoiseSetting.parse(text) for text in config.noises]
    fixed = [s.label for s in settings if s.parameter is None]
    if set(config.curve_noises or []) & set(fixed):
        raise UsageError(f"--curve-noise: {', '.join(fixed)} has no level to vary")
    methods = resolve_methods(config.models, config.allow_untrained, config.trust_bundles)
    if config.self_ensemble:
        ensembled = [self_ensembled(m) for m in methods if m.learned and m.trained]
        if not ensembled:
            raise UsageError("--self-ensemble: no trained network (bundle or checkpoint) among "
                             "--models; classical filters are unchanged by it")
        methods += ensembled
    if not any(m.scored for m in methods) and not config.runs("cost"):
        raise UsageError("no model to score (untrained networks only enter the cost table)")
    tuners = {m.label: OracleTuner(m.spec) for m in _tuned(methods, config)}
    informed = {m.label: with_sigma(m) for m in methods if m.label in config.true_sigma}
    images, problems = load_images(config.data, config.modality, config.max_images,
                                   config.crop, config.slices)
    config.out.mkdir(parents=True, exist_ok=True)
    main = quality_conditions(settings, config.levels)
    level = ablation_level(config.levels)
    ablation = ablation_conditions(settings, level) if config.runs("ablation") else []
    conditions = _unique(main + ablation)
    channels = 1 if any(image.clean.shape[0] == 1 for image in images) else 3
    level_settings = [s for s in settings if s.parameter and config.runs("curves") and (
        config.curve_noises is None or s.label in config.curve_noises)]
    curve_groups = _by_modality(images, config.curve_images)

    costs = (measure_costs(methods, channels, config.cost_repeats, progress=config.progress)
             if config.runs("cost") and lead else [])
    if costs:
        curve_runs = (len(level_settings) * len(CURVE_INPUT_PSNR)
                      * sum(len(group) for group in curve_groups.values()))
        tuned_conditions = sum(config.tunes_under(c.noise) for c in conditions)
        _announce(_estimate(costs, methods, tuners, images, len(conditions), tuned_conditions,
                            curve_runs, channels, config.workers), config)

    shown = figure_images(images) if config.runs("figures") else {}
    figure_rows = [s.at(level) for s in settings]
    keep = {(image.key, c.key) for image in shown.values() for c in figure_rows}
    part = config.shard or rank
    quality = run_quality(images if part is None else shard_images(images, part), conditions,
                          methods, tuners, config.seed, keep, config.progress, informed,
                          config.tunes_under, config.workers)
    if rank is not None:
        quality = _gathered(quality)
        if not lead:
            return None
    summary = summarise(quality.records)
    failed = failed_outputs(quality.records)
    for cell in failed:
        print(f"warning: NaN output, left out of the means: {cell.describe()}", file=sys.stderr)
    for name, group in (("quality", main), ("ablation", ablation)):
        pairs = {(c.noise, c.level) for c in group}
        if pairs:
            write_csv([r for r in summary.values() if (r["noise"], r["level"]) in pairs],
                      SUMMARY_COLUMNS, config.out / f"{name}.csv")
    write_csv(quality.records, RECORD_COLUMNS, config.out / "per_image.csv")
    if config.shard is not None:
        pairs = {(c.noise, c.level) for c in main}
        write_records([r for r in quality.records if (r["noise"], r["level"]) in pairs],
                      config.out / RECORDS_NAME)

    curves: list[dict[str, Any]] = []
    curve_files: list[Path] = []
    for setting in level_settings:
        for modality, group in curve_groups.items():
            rows = validity_curves(group, setting, methods, config.seed, config.progress)
            curves += rows
            curve_files.append(plot_curves(rows, config.out / curve_file_name(
                modality, setting.label)))
    if curves:
        write_csv(curves, ["modality", "noise", "level", "model", "input_psnr",
                           "output_psnr", "gain"], config.out / "curves.csv")

    models = _table_models(methods, tuners, informed)
    plain = [m.label for m in methods if m.scored]
    figures = [qualitative_figure(image, figure_rows, quality.kept, quality.records, plain,
                                  config.figure_crop, config.out / f"figure_{modality}.png")
               for modality, image in shown.items()]
    reference = reference_label(methods)
    bar: list[dict[str, Any]] = []
    if costs:
        write_csv(costs, ["name", "shape", "params", "macs", "peak_memory_mb", "median_ms",
                          "min_ms", "learned", "trained"], config.out / "cost.csv")
        if reference is not None:
            same = sorted({i.modality for i in images if i.clean.shape[0] == channels})
            cells = [(m, c.noise, c.level) for m in same for c in main]
            bar = speed_bar(costs, summary, reference, cells)

    path = config.out / "benchmark.md"
    path.write_text(report.render(
        config=config, settings=settings, methods=methods, images=images, problems=problems,
        main=main, ablation=ablation, ablation_at=level, summary=summary, models=models,
        records=quality.records, tuners=tuners, curve_files=curve_files, figures=figures,
        costs=costs, reference=reference, bar=bar, channels=channels, failed=failed,
        seconds=time.perf_counter() - start,
    ))
    return path

