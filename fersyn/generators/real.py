"""`real`: identities drawn from the real training faces instead of a GAN.

A control, not a generator: with `--identity real` the expression generator imposes each target
emotion on real training faces, so a sweep measures what the expression GAN alone adds; comparing
it with `--identity dcgan` tells what the identity GAN adds on top.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fersyn.errors import FersynError
from fersyn.plugins.contracts import IdentityGenerator
from fersyn.plugins.registry import register_identity

FACES = "faces.npz"


@register_identity("real")
class RealIdentities(IdentityGenerator):
    """Real training faces as identities (no GAN): a control isolating the expression generator."""

    def __init__(self, options: object = None, *, image_size: int = 48, channels: int = 1) -> None:
        super().__init__(options, image_size=image_size, channels=channels)
        self.faces: np.ndarray | None = None

    def fit(self, faces: np.ndarray, *, steps: int | None = None, seed: int = 0) -> None:
        """Keep the training faces (nothing to train: `steps` is ignored)."""
        self.faces = np.array(faces, dtype=np.uint8)

    def sample(self, n: int, *, seed: int) -> np.ndarray:
        """`n` training faces drawn at random: without replacement while they last."""
        if self.faces is None:
            raise self.not_fitted("sample()")
        if n < 0:
            raise FersynError(f"identity plugin 'real': cannot sample {n} faces")
        rng = np.random.default_rng(seed)
        whole, rest = divmod(n, len(self.faces))
        order = [rng.permutation(len(self.faces)) for _ in range(whole)] + [rng.permutation(len(self.faces))[:rest]]
        return self.faces[np.concatenate(order)]

    def save_state(self, directory: Path) -> None:
        if self.faces is None:
            raise self.not_fitted("save()")
        np.savez_compressed(directory / FACES, faces=self.faces)

    def load_state(self, directory: Path) -> None:
        with np.load(directory / FACES) as stored:
            self.faces = stored["faces"]
