"""Exact-duplicate detection: inside one face set and across the splits made from it.

FER2013 is known to hold hundreds of exact duplicates, some with conflicting labels, and test
images identical to training images; a test image seen in training inflates accuracy.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

import numpy as np


def image_hashes(images: np.ndarray) -> np.ndarray:
    """A content hash per image (equal pixels, equal hash)."""
    return np.array([hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).hexdigest() for image in images])


def duplicate_groups(hashes: np.ndarray) -> list[np.ndarray]:
    """Index groups (size ≥ 2) of identical images, from their `image_hashes`."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, digest in enumerate(hashes):
        groups[digest].append(index)
    return [np.array(members) for members in groups.values() if len(members) > 1]


def shared_images(hashes: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Indices in `second` whose image also appears among the indices `first`."""
    seen = set(hashes[first].tolist())
    return np.array([i for i in second if hashes[i] in seen], dtype=np.int64)
