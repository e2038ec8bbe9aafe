import numpy as np

from fersyn.judges.quality import frechet_distance, identity_preservation


def test_frechet_distance_of_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 3))
    assert frechet_distance(a, a) < 1e-6
    shifted = a + np.array([2.0, 0.0, 0.0])
    assert abs(frechet_distance(a, shifted) - 4.0) < 1e-6  # only the mean moved: |Δμ|² = 4
    wider = a * 2.0  # Σ = I vs 4I: 3 · (1 + 4 − 2·2) = 3
    assert abs(frechet_distance(rng.normal(size=(20000, 3)), rng.normal(size=(20000, 3)) * 2.0) - 3.0) < 0.15
    assert frechet_distance(a, wider) > 2.5


def test_identity_preservation_tells_kept_identities_from_swapped_ones():
    rng = np.random.default_rng(1)
    sources = rng.integers(0, 256, (30, 48, 48, 1), dtype=np.uint8)
    noise = rng.integers(-10, 10, (2, 30, 48, 48, 1))
    kept = np.clip(sources[None].astype(int) + noise, 0, 255).astype(np.uint8)
    swapped = np.roll(kept, 1, axis=1)  # every edit shows the previous source's face
    assert identity_preservation(sources, kept)["identity_retrieval"] == 1.0
    assert identity_preservation(sources, swapped)["identity_retrieval"] == 0.0
    assert identity_preservation(sources, kept)["identity_retrieval_chance"] == 1 / 30
