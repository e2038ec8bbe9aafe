"""Prove that a synthetic set never saw a held-out face.

The rule: a synthetic set may feed a benchmark only if none of the real faces its generators were
fitted on is a validation or test face of that benchmark. The set records a content hash of every
such face (`training_hashes`, taken at `training_image_size`); the held-out faces are loaded at
that same size and hashed alike, so a renamed copy of the data, another split or another class set
cannot slip through, as they could when folder names were compared. A set without hashes proves
nothing and is refused unless the user explicitly accepts it unverified.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from fersyn.data.duplicates import image_hashes
from fersyn.errors import FersynError

if TYPE_CHECKING:
    from fersyn.data.synthetic import SyntheticSource

log = logging.getLogger("fersyn")

UNVERIFIED = "unverified (--allow-unverified-synthetic)"


@dataclass(frozen=True)
class HeldOut:
    """Faces a benchmark validates or tests on, loadable at any size."""

    label: str  # for messages, e.g. "CK+48 fold 2 of 5, validation and test faces"
    faces_at: Callable[[int], np.ndarray]  # side S -> the held-out faces, uint8 N×S×S×1, loaded and resized to S


def check_unseen(source: "SyntheticSource", held_out: Sequence[HeldOut], *, allow_unverified: bool = False) -> str:
    """Raise FersynError unless `source`'s generators were provably fitted on none of the `held_out`
    faces; returns a note on how that was established, for the results."""
    if not source.training_hashes:  # none recorded, or an empty record: neither proves anything
        problem = (f"{source.path} records no content hashes of the faces its generators were fitted on, so fersyn "
                   "cannot prove that no validation or test face reached them")
        if not allow_unverified:
            raise FersynError(f"{problem}; make it again with `fersyn generate`, or pass `allow_unverified_synthetic` "
                              "to use it anyway (recorded in every row)")
        log.warning("%s; using it anyway, as `allow_unverified_synthetic` asks", problem)
        return UNVERIFIED
    # The hashes are of exact pixels at the size the generators saw, which may not be this sweep's size.
    size = source.training_image_size or source.stored_size
    checked, seen = 0, []
    for group in held_out:
        faces = group.faces_at(size)
        if faces.dtype != np.uint8 or faces.shape[1:3] != (size, size):
            raise ValueError(f"{group.label}: faces_at({size}) gave {faces.dtype} {faces.shape}, not uint8 N×{size}×{size}×C")
        shared = sum(digest in source.training_hashes for digest in image_hashes(faces))
        checked += len(faces)
        if shared:
            seen.append(f"{shared} of the {len(faces)} {group.label}")
    if seen:
        raise FersynError(
            f"{source.path} was made by generators fitted on held-out faces of this benchmark ({'; '.join(seen)}); "
            "fit the generators on this split's training faces: `fersyn generate` with the same `split_seed`/`folds`, "
            "or use `identity`/`expression`"
        )
    labels = "; ".join(group.label for group in held_out)
    return (f"verified by content: none of {checked} held-out faces ({labels}) among the "
            f"{len(source.training_hashes)} distinct faces its generators were fitted on")
