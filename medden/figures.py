"""Side-by-side figures of clean / noisy / denoised images (demo and benchmark)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["display_image", "side_by_side"]


def display_image(data: np.ndarray) -> np.ndarray:
    """A 2-D (gray) or ``(H, W, 3)`` (RGB) view of a normalised ``(C, *spatial)`` image.

    Volumes show their middle slice; values are clipped to [0, 1].
    """
    if data.ndim == 4:
        data = data[:, data.shape[1] // 2]
    view = np.clip(data, 0.0, 1.0)
    return view[0] if view.shape[0] == 1 else np.moveaxis(view[:3], 0, -1)


def side_by_side(
    rows: Sequence[tuple[str, Sequence[tuple[str, np.ndarray]]]],
    path: Path,
    panel_size: float = 2.6,
) -> Path:
    """Save a grid figure: one row per image, one column per version.

    Parameters
    ----------
    rows : sequence of (row title, [(panel title, normalised (C, *spatial) image), ...])
        Images are shown with :func:`display_image`.
    path : Path
        PNG file to write.
    panel_size : float
        Edge of one panel in inches.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = max(len(panels) for _, panels in rows)
    fig, axes = plt.subplots(
        len(rows), columns, figsize=(panel_size * columns, panel_size * len(rows)),
        squeeze=False,
    )
    for r, (row_title, panels) in enumerate(rows):
        for c in range(columns):
            axis = axes[r][c]
            axis.axis("off")
            if c >= len(panels):
                continue
            title, image = panels[c]
            axis.imshow(display_image(image), cmap="gray", vmin=0.0, vmax=1.0)
            axis.set_title(title, fontsize=8)
        axes[r][0].text(-0.05, 0.5, row_title, transform=axes[r][0].transAxes, rotation=90,
                        ha="right", va="center", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
