"""Check one model of a ``medden benchmark`` run against medden's bundle quality bar.

Reads ``quality.csv`` and ``per_image.csv`` of a benchmark output folder and prints, as
Markdown, the bar row by row (the bundles' ``docs/README.md`` embed this output):

* Gaussian σ 15, 25, 50: mean PSNR at least 0.5 dB above BM3D given the true σ;
* every noise at a fixed setting (Poisson, speckle, salt-and-pepper, mixture, Rician): mean
  PSNR at least 2 dB above the best classical filter tuned per image, against two sets of
  filters: the Noise2Noise paper's oracle-tuned baselines (Gaussian, bilateral and median
  filters) and every classical row of the run (BM3D, TV, NLM, wavelet, switching median...);
* almost-clean input (σ 2): output PSNR at least the input's;
* SSIM above every classical row, in every row.

    python docs/examples/quality_bar.py docs/benchmarks/xray_denoise --model bundle

Images won counts, from ``per_image.csv``, the images on which the model is above the
reference.  ``--summary`` prints instead one line per condition: the noisy input, the model,
BM3D given the true σ, and the best of the paper's filters and of every classical row.
``--margins`` takes several folders (``FOLDER@MODEL`` picks the model of a folder holding
two trained rows) and prints one table of margins, a column per folder:

    python docs/examples/quality_bar.py --margins docs/benchmarks/xray_denoise_0.4.0@0.4.0 \
        docs/benchmarks/ct_denoise
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from medden.bench.runner import ORACLE_SUFFIX as ORACLE
from medden.bench.runner import TRUE_SIGMA_SUFFIX as TRUE_SIGMA
from medden.bench.tables import read_quality_rows

#: The Noise2Noise X-ray/CT paper's baselines, tuned per image (its Sec. III).
PAPER_FILTERS = ("gaussian_filter", "bilateral", "median")
#: Row labels of trained networks (``medden.denoisers``): never a classical reference.
LEARNED_PREFIXES = ("bundle ", "checkpoint ")
GAUSSIAN_LEVELS = ("15", "25", "50")
GAUSSIAN_MARGIN = 0.5
FIXED_MARGIN = 2.0


def _base(label: str) -> str:
    return label.replace(ORACLE, "").replace(TRUE_SIGMA, "")


class BarCheck:
    """The per-image scores of one run, their means, and the bar's verdicts.

    Means are taken over every image of the run (all modalities together: a bundle is
    measured on its whole validation split), or over one modality's images.

    Parameters
    ----------
    folder : Path
        ``medden benchmark`` output folder.
    model : str
        A substring of the checked model's label (e.g. ``bundle``).
    modality : str, optional
        Only the images of this modality (a ``modality`` of the CSVs).
    """

    def __init__(self, folder: Path, model: str, modality: str | None = None) -> None:
        try:
            rows = read_quality_rows(folder)
        except FileNotFoundError as error:
            raise SystemExit(str(error)) from None
        kept = [r for r in rows if modality is None or r["modality"] == modality]
        if not kept:
            raise SystemExit(f"no image of modality '{modality}' in {folder}")
        labels = sorted({r["model"] for r in kept if model in r["model"]})
        if model in labels:  # a full label picks its model even when it names others too
            labels = [model]
        if len(labels) != 1:
            raise SystemExit(f"--model '{model}' matches {labels or 'no model'} in {folder}")
        self.model = labels[0]
        self.per_image: dict[tuple[str, str, str], dict[str, dict[str, float]]] = (
            defaultdict(dict))
        for row in kept:
            # A metric left empty is a NaN output (left out, as in the benchmark's own means).
            if row["psnr"]:
                self.per_image[row["noise"], row["level"], row["model"]][row["image"]] = {
                    "psnr": float(row["psnr"]), "ssim": float(row["ssim"])}
        self.mean: dict[tuple[str, str], dict[str, dict[str, float]]] = defaultdict(dict)
        for (noise, level, label), images in self.per_image.items():
            self.mean[noise, level][label] = {
                metric: sum(v[metric] for v in images.values()) / len(images)
                for metric in ("psnr", "ssim")}
        self.images = len(self.per_image[(*next(iter(self.mean)), self.model)])

    def classical(self, condition: tuple[str, str]) -> list[str]:
        """Every row of ``condition`` but the noisy input and trained networks (the model)."""
        return [m for m in self.mean[condition]
                if m != "identity" and not m.startswith(LEARNED_PREFIXES)]

    def psnr(self, condition: tuple[str, str], label: str) -> float:
        """Mean PSNR of ``label`` under ``condition``."""
        return self.mean[condition][label]["psnr"]

    def won(self, condition: tuple[str, str], reference: str) -> str:
        """``k/n``: images on which the model's PSNR is above ``reference``'s."""
        ours = self.per_image[(*condition, self.model)]
        theirs = self.per_image[(*condition, reference)]
        wins = sum(ours[i]["psnr"] > theirs[i]["psnr"] for i in ours)
        return f"{wins}/{len(ours)}"

    def best(self, condition: tuple[str, str], labels: list[str]) -> str:
        """The label of highest mean PSNR among ``labels``."""
        return max(labels, key=lambda label: self.psnr(condition, label))

    def versus(self, condition: tuple[str, str], reference: str, margin: float) -> list[str]:
        """Cells: reference, its PSNR, the margin, images won, met."""
        gain = self.psnr(condition, self.model) - self.psnr(condition, reference)
        verdict = "yes" if gain >= margin else f"no ({margin - gain:.2f} short)"
        return [reference, f"{self.psnr(condition, reference):.2f}", f"{gain:+.2f}",
                self.won(condition, reference), verdict]


def _condition_name(condition: tuple[str, str]) -> str:
    noise, level = condition
    return f"{noise} σ {level}" if level else noise


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def report(check: BarCheck) -> str:
    """The bar, row by row, as Markdown tables."""
    conditions = list(check.mean)
    gaussian = [c for c in conditions if c[0] == "gaussian" and c[1] in GAUSSIAN_LEVELS]
    fixed = [c for c in conditions if not c[1]]
    parts = [f"Model: `{check.model}`; means over {check.images} images.", ""]
    rows = [[_condition_name(c), f"{check.psnr(c, check.model):.2f}",
             *check.versus(c, "bm3d" + TRUE_SIGMA, GAUSSIAN_MARGIN)] for c in gaussian]
    parts += ["Gaussian noise, against BM3D given the true σ (bar: +0.5 dB):", "",
              _table(["condition", "model", "reference", "reference PSNR", "margin",
                      "images won", "met"], rows), ""]
    rows = []
    for condition in fixed:
        tuned = [m for m in check.classical(condition) if m.endswith(ORACLE)]
        paper = [m for m in tuned if _base(m) in PAPER_FILTERS]
        for name, labels in (("N2N paper's filters", paper), ("every classical filter", tuned)):
            if labels:
                rows.append([_condition_name(condition), name,
                             f"{check.psnr(condition, check.model):.2f}",
                             *check.versus(condition, check.best(condition, labels),
                                           FIXED_MARGIN)])
    parts += ["Noises at a fixed setting, against the best filter tuned per image (bar: +2 dB); "
              "first against the Noise2Noise paper's oracle-tuned baselines (Gaussian, "
              "bilateral, median), then against every oracle-tuned classical filter of the run:",
              "", _table(["condition", "filters", "model", "best filter", "its PSNR", "margin",
                          "images won", "met"], rows), ""]
    clean = ("gaussian", "2")
    if clean in check.mean:
        before, after = check.psnr(clean, "identity"), check.psnr(clean, check.model)
        parts += [f"Almost-clean input (Gaussian σ 2): input {before:.2f} dB, output "
                  f"{after:.2f} dB ({after - before:+.2f}; images improved "
                  f"{check.won(clean, 'identity')}): "
                  f"{'met' if after >= before else 'not met'}.", ""]
    rows = []
    for condition in conditions:
        others = check.classical(condition)
        rival = max(others, key=lambda m: check.mean[condition][m]["ssim"])
        ours, theirs = (check.mean[condition][m]["ssim"] for m in (check.model, rival))
        rows.append([_condition_name(condition), f"{ours:.4f}", rival, f"{theirs:.4f}",
                     "yes" if ours > theirs else "no"])
    parts += ["SSIM against the best classical row (default, oracle-tuned or true σ):", "",
              _table(["condition", "model SSIM", "best classical row", "its SSIM", "above"],
                     rows)]
    return "\n".join(parts)


def _best_cell(check: BarCheck, condition: tuple[str, str], labels: list[str],
               bold_above: float = float("inf")) -> str:
    if not labels:
        return ""
    best = check.best(condition, labels)
    psnr = check.psnr(condition, best)
    value = f"{psnr:.2f}"
    return f"{_bold(value) if psnr > bold_above else value} ({best})"


def _bold(cell: str) -> str:
    return f"**{cell}**"


def summary(check: BarCheck) -> str:
    """Mean PSNR per condition: noisy, model, BM3D (true σ), best paper filter, best row.

    The model's PSNR is in bold where no classical row beats it, else the best row's is.
    """
    rows = []
    for condition in check.mean:
        others = check.classical(condition)
        paper = [m for m in others if _base(m) in PAPER_FILTERS]
        true_sigma = ("bm3d" + TRUE_SIGMA) in others
        ours = check.psnr(condition, check.model)
        best_row = max((check.psnr(condition, m) for m in others), default=float("-inf"))
        rows.append([_condition_name(condition), f"{check.psnr(condition, 'identity'):.2f}",
                     _bold(f"{ours:.2f}") if ours >= best_row else f"{ours:.2f}",
                     f"{check.psnr(condition, 'bm3d' + TRUE_SIGMA):.2f}" if true_sigma else "",
                     _best_cell(check, condition, paper),
                     _best_cell(check, condition, others, bold_above=ours)])
    return _table(["condition", "noisy", check.model, "BM3D (true σ)",
                   "best of Gaussian, bilateral, median filters", "best classical row"], rows)


def _ssim_rows_won(check: BarCheck) -> str:
    lost = [_condition_name(c) for c in check.mean if check.mean[c][check.model]["ssim"]
            <= max(check.mean[c][m]["ssim"] for m in check.classical(c))]
    won = f"{len(check.mean) - len(lost)}/{len(check.mean)}"
    return won + (f" (not: {', '.join(lost)})" if lost else "")


def _margin_cell(check: BarCheck, condition: tuple[str, str], labels: list[str]) -> str:
    if not labels:
        return "—"
    best = check.best(condition, labels)
    return f"{check.psnr(condition, check.model) - check.psnr(condition, best):+.2f} ({best})"


def margins(checks: list[BarCheck]) -> str:
    """One table of the bar's margins (dB), a column per run: the bundles side by side."""
    conditions = list(dict.fromkeys(c for check in checks for c in check.mean))
    reference = "bm3d" + TRUE_SIGMA
    rows = []
    for level in GAUSSIAN_LEVELS:
        condition = ("gaussian", level)
        rows.append([f"Gaussian σ {level} vs BM3D (true σ), bar +{GAUSSIAN_MARGIN}"] + [
            f"{check.psnr(condition, check.model) - check.psnr(condition, reference):+.2f}"
            if condition in check.mean else "—" for check in checks])
    for condition in (c for c in conditions if not c[1]):
        tuned = any(m.endswith(ORACLE) for check in checks if condition in check.mean
                    for m in check.classical(condition))
        kind = "oracle-tuned " if tuned else "(not oracle-tuned: default settings) "
        for name, paper in (("Gaussian/bilateral/median filters", True),
                            ("every classical filter", False)):
            cells = []
            for check in checks:
                labels = [m for m in check.classical(condition) if m.endswith(ORACLE) == tuned
                          and (not paper or _base(m) in PAPER_FILTERS)
                          ] if condition in check.mean else []
                cells.append(_margin_cell(check, condition, labels))
            rows.append([f"{_condition_name(condition)} vs best {kind}{name}, bar "
                         f"+{FIXED_MARGIN:g}", *cells])
    clean = ("gaussian", "2")
    rows.append(["σ 2: input → output PSNR (bar: not lower)"] + [
        f"{check.psnr(clean, 'identity'):.2f} → {check.psnr(clean, check.model):.2f}"
        if clean in check.mean else "—" for check in checks])
    rows.append(["SSIM above every classical row: rows won"]
                + [_ssim_rows_won(check) for check in checks])
    header = ["bar (margin in dB)"] + [
        f"{check.model.removeprefix('bundle ')} ({check.images})" for check in checks]
    return _table(header, rows)


def _folder_and_model(text: str, default: str) -> tuple[Path, str]:
    folder, _, model = text.partition("@")
    return Path(folder), model or default


def main() -> None:
    """Print the quality-bar tables of one benchmark run, or the margins of several."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="+",
                        help="medden benchmark output folder (several with --margins; "
                        "FOLDER@MODEL overrides --model for one)")
    parser.add_argument("--model", default="bundle",
                        help="substring of the checked model's label (default: bundle)")
    parser.add_argument("--summary", action="store_true",
                        help="one line per condition instead of the bar's tables")
    parser.add_argument("--margins", action="store_true",
                        help="one table of margins, a column per folder")
    parser.add_argument("--modality", help="only the images of this modality")
    args = parser.parse_args()
    checks = [BarCheck(*_folder_and_model(f, args.model), args.modality) for f in args.folder]
    if args.margins:
        print(margins(checks))
    elif len(checks) > 1:
        parser.error("several folders need --margins")
    else:
        print(summary(checks[0]) if args.summary else report(checks[0]))


if __name__ == "__main__":
    main()
