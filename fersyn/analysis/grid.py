"""Face grids as PNG: rows of faces under column titles (emotions), for previews and samples."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from fersyn.analysis.figures import new_figure, save_figure


def save_face_grid(
    cells: np.ndarray,
    path: str | Path,
    column_titles: Sequence[str],
    row_titles: Sequence[str] | None = None,
    title: str = "",
) -> Path:
    """Write `cells` (uint8 R×C×H×W×1) as one PNG grid with titled columns (and rows)."""
    rows, columns = cells.shape[:2]
    figure = new_figure(1.1 * columns + 0.6, 1.1 * rows + 0.5)
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

