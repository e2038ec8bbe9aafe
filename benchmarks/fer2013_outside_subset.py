"""The FER2013 release's training faces that the FER2013 subset does not hold, as a FER2013 CSV (issue 24).

External faces to pretrain generators on that fer2013-cnn, trained on the subset's Training rows, has never
seen: it can then judge the sets of generators pretrained on them independently (fer-mini-xception cannot:
FER2013's whole training split taught it, and it says so of any face read from a FER2013-style CSV).

    python benchmarks/fer2013_outside_subset.py RELEASE [--subset ../shared/data/fer2013-subset.csv.gz] [--out FILE]

RELEASE: the public FER2013 release as image folders, RELEASE/train/<emotion>/*.jpg (the first commit of the
repository RecepTahirGunlu/Duygu-Tanima, the subset's own source); only its train/ split is read. Every face
whose pixels equal a row of the subset, of any usage, is dropped (FER2013 repeats faces across its splits, and
a benchmark scored on the subset's test rows refuses a pretraining that holds one). The CSV holds FER2013
pixels, whose terms forbid redistribution: it is written outside the repository (default:
../fersyn-external/fer2013-train-outside-subset.csv.gz), and must never be committed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from fersyn.data import FaceSet, load_dataset
from fersyn.data.duplicates import image_hashes
from fersyn.data.emotions import FER2013_CODES
from fersyn.errors import FersynError
from fersyn.runtime.files import atomic_output

ROOT = Path(__file__).resolve().parents[1]
SUBSET = ROOT.parent / "shared" / "data" / "fer2013-subset.csv.gz"
OUTSIDE_SUBSET = ROOT.parent / "fersyn-external" / "fer2013-train-outside-subset.csv.gz"


def outside_subset(release: Path, subset: Path) -> FaceSet:
    """The faces of RELEASE/train whose pixels are those of no row of `subset`."""
    train = release / "train"
    if not train.is_dir():
        raise FersynError(f"{release} has no train/ folder: give the FER2013 release's root (train/<emotion>/*.jpg)")
    faces = load_dataset(train, image_size=48, emotions="present")
    held = set(image_hashes(load_dataset(subset, image_size=48, emotions="present").images))
    return faces.subset(np.flatnonzero([digest not in held for digest in image_hashes(faces.images)]))


def write_fer_csv(faces: FaceSet, out: Path) -> None:
    """`faces` (0–255 pixels) as a FER2013 CSV of Training rows, gzipped; written whole or not at all."""
    code_of = {emotion: code for code, emotion in FER2013_CODES.items()}
    frame = pd.DataFrame({"emotion": [code_of[faces.emotions[label]] for label in faces.labels],
                          "pixels": [" ".join(map(str, image.ravel())) for image in faces.images],
                          "Usage": "Training"})
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out) as temporary:
        frame.to_csv(temporary, index=False, compression="gzip")


def main(arguments: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("release", type=Path, help="the FER2013 release's root folder (with train/<emotion>/)")
    parser.add_argument("--subset", type=Path, default=SUBSET, help="the faces to leave out (any usage)")
    parser.add_argument("--out", type=Path, default=OUTSIDE_SUBSET, help="the CSV to write (outside the repository)")
    options = parser.parse_args(arguments)
    try:
        faces = outside_subset(options.release, options.subset)
        write_fer_csv(faces, options.out)
    except FersynError as error:
        sys.exit(f"error: {error}")
    print(f"wrote {len(faces):,} training faces ({', '.join(f'{e} {n}' for e, n in faces.counts().items())}) "
          f"that {options.subset.name} does not hold to {options.out}")


if __name__ == "__main__":
    main()
