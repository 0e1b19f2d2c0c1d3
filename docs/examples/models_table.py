"""Print the Markdown table of docs/models.md: every registered learned model and pipeline.

    python docs/examples/models_table.py --threads 1 --repeats 3 > table.md

Parameters and MACs are counted for a 512x512 grey image (MACs per pixel = MACs / 512²);
time is the median wall-clock of ``--repeats`` forward passes after two warm-up passes.
"""

from __future__ import annotations

import argparse

from medden.cost import count_macs, count_parameters, time_inference
from medden.registry import model_registry, pipeline_registry

SHAPE = (1, 1, 512, 512)


def main() -> None:
    """Measure and print one row per learned model and pipeline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("names", nargs="*", help="only these models/pipelines (default all)")
    args = parser.parse_args()
    if not args.names:
        print("| name | kind | parameters | MACs / pixel | ms per 512² grey | 3-D | noise map |")
        print("|:---|:---|---:|---:|---:|:---:|:---:|")
    for registry, kind in ((model_registry, "model"), (pipeline_registry, "pipeline")):
        for name in registry.names():
            if registry.status(name)[0] != "ok" or registry.entry(name).distribution != "medden":
                continue
            if args.names and name not in args.names:
                continue
            module = registry.create(name)
            if not getattr(module, "learned", True):
                continue
            macs = count_macs(module, SHAPE)
            ms = time_inference(module, SHAPE, repeats=args.repeats, threads=args.threads)
            dims = getattr(type(module), "spatial_dims", (2,))
            three_d = "yes" if isinstance(dims, tuple) and 3 in dims else "no"
            noise_map = "yes" if getattr(module, "accepts_noise_map", False) else "no"
            print(f"| `{name}` | {kind} | {count_parameters(module):,} | "
                  f"{macs / (512 * 512):,.0f} | {ms['median_ms']:,.0f} | {three_d} | "
                  f"{noise_map} |", flush=True)


if __name__ == "__main__":
    main()
