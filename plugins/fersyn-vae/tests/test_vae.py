"""The VAE plugin meets fersyn's contract, and its samples look like faces, not noise."""

import numpy as np
import pytest
from fersyn_vae import VAEIdentity

from fersyn.data.toy import toy_faceset
from fersyn.testing import check_identity_generator


def test_vae_meets_the_contract():
    check_identity_generator(VAEIdentity, steps=3)


@pytest.mark.slow
def test_vae_samples_become_varied_faces_around_the_real_ones():
    faces = toy_faceset(identities=40, repeats=1, image_size=32).images  # at 32×32: half the time of 48×48
    mean_face = faces.mean(0).ravel()
    generator = VAEIdentity(image_size=32)

    def likeness():
        samples = generator.sample(64, seed=1).astype(float)
        return np.corrcoef(samples.mean(0).ravel(), mean_face)[0, 1], samples.std(0).mean(), generator.trained_steps

    generator.fit(faces, steps=1, seed=0)
    untrained = likeness()
    generator.fit(faces, steps=99, seed=0)  # resumed: one network, traced once
    trained = likeness()
    assert untrained[0] < 0.5 and trained[0] > 0.85  # measured 0.02 and 0.95: samples now centre on real faces
    assert trained[1] > 10 and trained[2] == 100  # and differ from each other (measured 23 grey levels)
