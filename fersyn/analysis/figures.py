"""Figures: a fresh matplotlib figure, and the safe PNG writing every fersyn figure shares."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fersyn.runtime.files import atomic_output

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def new_figure(width: float, height: float) -> "Figure":
    """A figure of `width` × `height` inches on its own Agg canvas: not pyplot, so no global backend
    switch and nothing left open."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: "Figure", path: str | Path, *, dpi: int) -> Path:
    """Lay out `figure` and write it as a PNG that appears under `path` only once complete."""
    figure.tight_layout()
    with atomic_output(path) as temporary:
        figure.savefig(temporary, format="png", dpi=dpi)
    return Path(path)
