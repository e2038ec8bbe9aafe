"""The synthetic set on disk: one HDF5 file, written in chunks.

Layout: `images` uint8 N×H×W×C (chunked, gzip), `labels` int16 N (indices into the `emotions`
attribute), `identity` int64 N (which sampled identity each face came from), `training_hashes` (one
content hash per real face the generators were fitted on, fixed-length ASCII: the blake2b hex digest
of its exact uint8 pixels, see fersyn.data.duplicates.image_hashes; they let a benchmark prove that
no validation or test face reached the generators, whatever the data's folder is called, see
fersyn.leaks), `training_names` (the names of those faces: file paths relative to the dataset, CSV
rows; for people reading the file). Attributes hold JSON: `provenance` (plugins, options, seeds,
data fingerprint, package versions), the quality `metrics`, and `training_image_size` (the side of
the faces the training hashes were taken of).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from fersyn.data.duplicates import image_hashes
from fersyn.errors import FersynError

_CHUNK = 256  # images per HDF5 chunk: small enough to stream, large enough to compress well


class SyntheticWriter:
    """Append labelled faces to a new HDF5 file without holding them all in memory."""

    def __init__(self, path: str | Path, image_shape: tuple[int, int, int], emotions: Sequence[str]) -> None:
        import h5py

        self.file = h5py.File(path, "w")
        self.image_shape = tuple(image_shape)
        self.emotions = list(emotions)
        self.file.attrs["emotions"] = json.dumps(self.emotions)
        self.images = self.file.create_dataset(
            "images", (0, *image_shape), maxshape=(None, *image_shape), dtype="uint8",
            chunks=(_CHUNK, *image_shape), compression="gzip", compression_opts=4,
        )
        self.labels = self.file.create_dataset("labels", (0,), maxshape=(None,), dtype="int16", chunks=(4096,))
        self.identity = self.file.create_dataset("identity", (0,), maxshape=(None,), dtype="int64", chunks=(4096,))

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def append(self, images: np.ndarray, emotion: str, identity: np.ndarray) -> None:
        if len(images) == 0:
            return
        start, stop = len(self), len(self) + len(images)
        for dataset in (self.images, self.labels, self.identity):
            dataset.resize(stop, axis=0)
        self.images[start:stop] = images
        self.labels[start:stop] = self.emotions.index(emotion)
        self.identity[start:stop] = identity

    def set_training_names(self, names: Sequence[str]) -> None:
        """Record which real faces the generators were fitted on (by name)."""
        import h5py

        self.file.create_dataset("training_names", data=np.array(names, dtype=object),
                                 dtype=h5py.string_dtype(), compression="gzip")

    def set_training_faces(self, images: np.ndarray) -> None:
        """Record which real faces (uint8 N×S×S×C, as fitted) the generators were fitted on, by content:
        a renamed copy of the data has the same hashes."""
        hashes = np.char.encode(image_hashes(images), "ascii")  # fixed-length bytes: compact, any h5py reads them
        self.file.create_dataset("training_hashes", data=hashes, compression="gzip")
        self.set_attributes(training_image_size=int(images.shape[1]))

    def set_attributes(self, **attributes: Any) -> None:
        for key, value in attributes.items():
            self.file.attrs[key] = json.dumps(value)

    def close(self) -> None:
        self.file.close()


def read_synthetic_attributes(path: str | Path) -> dict[str, Any]:
    """The JSON attributes of a synthetic set (emotions, provenance, metrics), and its size."""
    import h5py

    try:
        with h5py.File(path, "r") as store:
            attributes = {key: json.loads(value) for key, value in store.attrs.items()}
            attributes["count"] = int(store["images"].shape[0])
    except (OSError, KeyError, ValueError) as error:
        raise FersynError(f"{path}: not a fersyn synthetic set ({error}); make one with `fersyn generate`") from None
    return attributes
