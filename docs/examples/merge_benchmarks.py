"""Merge ``medden benchmark`` runs made on parts of one image set, or with different models.

The same as ``medden report benchmark`` (:mod:`medden.bench.merge`), kept for the commands
written in the bundles' READMEs and docs/benchmarks.md:

    python docs/examples/merge_benchmarks.py docs/benchmarks/mri_denoise \\
        docs/benchmarks/mri_denoise_part2 --out docs/benchmarks/mri_denoise_split \\
        --rename val_mri_rest=val_mri15
"""

from __future__ import annotations

import sys

from medden.cli import main

if __name__ == "__main__":
    sys.exit(main(["report", "benchmark", *sys.argv[1:]]))
