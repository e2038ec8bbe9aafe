"""Readers for the formats facial-expression datasets are shared in, each returning a FaceSet.

- FER2013-style CSV (`emotion,pixels[,Usage][,subject]`), plain or gzipped;
- class-folder trees `ROOT/<emotion>/*.png|jpg|jpeg|bmp|tif|tiff` (CK+48, JAFFE, ...);
- `.npz` / `.h5` files with `images` and `labels` arrays (optional `label_names`, `subjects`, `usage`);
- registered dataset names: `toy`, the procedural faces fersyn renders itself.

A dataset whose files do not say everything themselves is read under a Layout (fersyn.data.layout): a label map
for numeric class folders, an annotation CSV (fersyn.data.annotations), where subjects are, CK+ frame counts, and
face detection and cropping (fersyn.data.faces). The default Layout changes nothing.

Labels are mapped onto the canonical vocabulary (fersyn.data.emotions). Faces of emotions outside the
requested set are left out and counted in `FaceSet.dropped`. An unreadable image inside a folder is
skipped with a warning naming it (recorded in `FaceSet.skipped`): large web-scraped sets often carry
a few broken files, and one should not stop a sweep; the count is reported by `fersyn data info`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from fersyn.data.assemble import assemble, label_at, refuse_layout, to_square_gray, usage_at
from fersyn.data.emotions import EKMAN, parse_emotions
from fersyn.data.faceset import FaceSet
from fersyn.data.folders import folder_entries, load_files
from fersyn.data.layout import DEFAULT_LAYOUT, Layout
from fersyn.errors import FersynError

log = logging.getLogger("fersyn")

FORMATS_HELP = (
    "a FER2013-style .csv/.csv.gz, a folder ROOT/<emotion>/*.png|jpg|jpeg|bmp|tif|tiff, "
    "an .npz or .h5 with 'images' and 'labels', or a dataset name (toy)"
)


PRESENT = "present"  # the class set "every emotion the data has"


def _toy(image_size: int, emotions: tuple[str, ...]) -> FaceSet:
    from fersyn.data.toy import toy_faceset

    return toy_faceset(image_size=image_size, emotions=emotions)


# Datasets known by name; `toy` needs no file.
DATASETS: dict[str, Callable[[int, tuple[str, ...]], FaceSet]] = {"toy": _toy}


def load_dataset(spec: str | Path, image_size: int = 48, emotions: str | Iterable[str] | None = None,
                 layout: Layout | None = None) -> FaceSet:
    """Load a dataset by name or path into a FaceSet of `image_size`² grayscale faces.

    `emotions` picks the class set (default: the Ekman six; see fersyn.data.emotions.parse_emotions);
    "present" keeps every emotion the data has. Faces of other emotions are left out and counted.
    `layout` (fersyn.data.layout.Layout) says how to read a dataset whose files do not say everything
    themselves: label map, annotation CSV, subjects, CK+ frames, face detection; the default reads it as is.
    Raises FersynError with a one-line explanation for any problem with the input.
    """
    layout = layout or DEFAULT_LAYOUT
    wanted = None if emotions == PRESENT else parse_emotions(emotions)
    if image_size < 8:
        raise FersynError(f"image size {image_size} is too small: use at least 8 pixels")
    if str(spec) in DATASETS:
        refuse_layout(layout, ("labels", "annotations", "subject_from", "ck_frames", "faces"), str(spec))
        return DATASETS[str(spec)](image_size, wanted or EKMAN)
    path = Path(spec)
    if not path.exists():
        raise FersynError(f"{spec}: no such file, folder or dataset name; DATA is {FORMATS_HELP}")
    name = path.name.lower()
    if layout.annotations is not None:
        if not path.is_dir():
            raise FersynError(f"{spec}: with `annotations`, DATA is the dataset's folder (the CSV's image paths are "
                              f"relative to the CSV itself)")
        from fersyn.data.annotations import annotation_entries

        refuse_layout(layout, ("ck_frames",), str(spec))
        entries, usage_from = annotation_entries(Path(layout.annotations), layout, path)
        return load_files(path, Path(layout.annotations).parent, entries, usage_from, image_size, wanted, layout)
    if path.is_dir():
        entries, usage_from = folder_entries(path, layout)
        return load_files(path, path, entries, usage_from, image_size, wanted, layout)
    refuse_layout(layout, ("subject_from", "ck_frames", "faces"), str(spec))
    if name.endswith((".csv", ".csv.gz")):
        return _load_csv(path, image_size, wanted, layout)
    if name.endswith(".npz"):
        return _load_arrays(path, image_size, wanted, _read_npz(path), layout)
    if name.endswith((".h5", ".hdf5")):
        return _load_arrays(path, image_size, wanted, _read_h5(path), layout)
    raise FersynError(f"{spec}: unknown data format; DATA is {FORMATS_HELP}")


def _load_csv(path: Path, size: int, wanted: tuple[str, ...] | None, layout: Layout) -> FaceSet:
    import pandas as pd

    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as error:  # pandas raises many types for unreadable files (gzip, parser, encoding)
        raise FersynError(f"{path}: cannot read as CSV ({type(error).__name__}: {error})") from None
    columns = {c.strip().lower(): c for c in table.columns}
    if "emotion" not in columns or "pixels" not in columns:
        raise FersynError(
            f"{path}: a FER2013-style CSV needs columns 'emotion' and 'pixels' (found: {', '.join(table.columns)})"
        )
    if table.empty:
        raise FersynError(f"{path}: the CSV has no rows")
    images, side = [], None
    for row, text in enumerate(table[columns["pixels"]], start=2):  # row 1 is the header
        try:
            values = np.array(text.split(), dtype=np.int64)
        except ValueError:
            raise FersynError(f"{path}: row {row} has pixel values that are not whole numbers; fix or remove that row") from None
        this_side = int(round(np.sqrt(values.size)))
        if side is None:
            side = this_side
        if values.size == 0 or this_side * this_side != values.size or this_side != side:
            raise FersynError(
                f"{path}: row {row} has {values.size} pixel values, not a square {side}×{side} image "
                f"({side * side} values); fix or remove that row"
            )
        if values.min() < 0 or values.max() > 255:
            raise FersynError(f"{path}: row {row} has pixel values outside 0-255")
        images.append(to_square_gray(values.astype(np.uint8).reshape(side, side), size))
    emotion_names = [label_at(path, row, label, layout) for row, label in enumerate(table[columns["emotion"]], start=2)]
    usage = None
    if "usage" in columns:
        usage = np.array([usage_at(path, row, u) for row, u in enumerate(table[columns["usage"]], start=2)])
    subjects = table[columns["subject"]].to_numpy(dtype=str) if "subject" in columns else None
    names = np.array([f"row {row}" for row in range(2, len(table) + 2)])
    return assemble(str(path), images, emotion_names, wanted, subjects=subjects, usage=usage, names=names)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except Exception as error:  # zipfile / numpy raise many types for a damaged archive
        raise FersynError(f"{path}: cannot read as .npz ({type(error).__name__}: {error})") from None


def _read_h5(path: Path) -> dict[str, np.ndarray]:
    import h5py

    try:
        with h5py.File(path, "r") as store:
            return {key: store[key][()] for key in store.keys() if isinstance(store[key], h5py.Dataset)}
    except OSError as error:
        raise FersynError(f"{path}: cannot read as HDF5 ({error})") from None


def _load_arrays(path: Path, size: int, wanted: tuple[str, ...] | None, arrays: dict[str, np.ndarray],
                 layout: Layout) -> FaceSet:
    if "images" not in arrays or "labels" not in arrays:
        raise FersynError(f"{path}: needs arrays 'images' and 'labels' (found: {', '.join(arrays) or 'none'})")
    images, labels = arrays["images"], arrays["labels"]
    if images.ndim not in (3, 4) or labels.ndim != 1 or len(images) != len(labels) or len(images) == 0:
        raise FersynError(
            f"{path}: 'images' must be N×H×W or N×H×W×C (N > 0) with one label each in a 1-D 'labels' "
            f"(got images {images.shape}, labels {labels.shape})"
        )
    for key in ("subjects", "usage"):
        if key in arrays and arrays[key].shape != labels.shape:
            raise FersynError(f"{path}: '{key}' must hold one entry per image (got {arrays[key].shape}, images {len(images)})")
    if images.dtype != np.uint8:
        if np.issubdtype(images.dtype, np.floating) and images.size and 0 <= images.min() and images.max() <= 1:
            images = np.round(images * 255)
        elif not (images.size and 0 <= images.min() and images.max() <= 255):
            raise FersynError(f"{path}: 'images' must be uint8 0-255 or floats 0-1 (got {images.dtype})")
        images = images.astype(np.uint8)
    label_names = arrays.get("label_names")
    if np.issubdtype(labels.dtype, np.integer):
        if label_names is None:
            raise FersynError(
                f"{path}: integer 'labels' need a 'label_names' array naming each code "
                f"(or store the labels as emotion names)"
            )
        names_of = [_decode(n) for n in label_names]
        if labels.min() < 0 or labels.max() >= len(names_of):
            raise FersynError(f"{path}: 'labels' has codes outside 0-{len(names_of) - 1} of 'label_names'")
        labels = np.array([names_of[code] for code in labels])
    emotion_names = [label_at(path, i, _decode(label), layout) for i, label in enumerate(labels)]
    subjects = np.array([_decode(s) for s in arrays["subjects"]]) if "subjects" in arrays else None
    usage = None
    if "usage" in arrays:
        usage = np.array([usage_at(path, i, _decode(u)) for i, u in enumerate(arrays["usage"])])
    resized = [to_square_gray(image, size) for image in images]
    names = np.array([f"#{i}" for i in range(len(images))])
    return assemble(str(path), resized, emotion_names, wanted, subjects=subjects, usage=usage, names=names)


def _decode(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
