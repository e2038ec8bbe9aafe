"""Face grids as PNG: rows of faces under column titles (emotions), for previews and samples; and
the safe PNG writing every fersyn figure shares."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from fersyn.files import atomic_output

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def save_face_grid(
    cells: np.ndarray,
    path: str | Path,
    column_titles: Sequence[str],
    row_titles: Sequence[str] | None = None,
    title: str = "",
) -> Path:
    """Write `cells` (uint8 R×C×H×W×1) as one PNG grid with titled columns (and rows)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # not pyplot: no global backend switch, nothing left open

    rows, columns = cells.shape[:2]
    figure = Figure(figsize=(1.1 * columns + 0.6, 1.1 * rows + 0.5))
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False)
    for r in range(rows):
        for c in range(columns):
            axis = axes[r][c]
            axis.imshow(cells[r, c, ..., 0], cmap="gray", vmin=0, vmax=255)
            axis.set_xticks([])
            axis.set_yticks([])
            if r == 0:
                axis.set_title(column_titles[c], fontsize=8)
            if c == 0 and row_titles is not None:
                axis.set_ylabel(row_titles[r], fontsize=7)
    if title:
        figure.suptitle(title, fontsize=9)
    return save_figure(figure, path, dpi=100)


def save_figure(figure: "Figure", path: str | Path, *, dpi: int) -> Path:
    """Lay out `figure` and write it as a PNG that appears under `path` only once complete."""
    figure.tight_layout()
    with atomic_output(path) as temporary:
        figure.savefig(temporary, format="png", dpi=dpi)
    return Path(path)
