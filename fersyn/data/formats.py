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
import os
import re
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from fersyn.data.emotions import ALL_EMOTIONS, EKMAN, canonical_emotion, parse_emotions
from fersyn.data.faceset import FaceSet
from fersyn.data.layout import DEFAULT_LAYOUT, Layout
from fersyn.errors import FersynError

log = logging.getLogger("fersyn")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
FORMATS_HELP = (
    "a FER2013-style .csv/.csv.gz, a folder ROOT/<emotion>/*.png|jpg|jpeg|bmp|tif|tiff, "
    "an .npz or .h5 with 'images' and 'labels', or a dataset name (toy)"
)

# File-name conventions that carry a subject id (first group).
SUBJECT_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"^(S\d+)_\d+_\d+"),  # CK+: S010_004_00000017.png
    re.compile(r"^([A-Z]{2})\.[A-Z]{2}\d*\.\d+"),  # JAFFE: KA.AN1.39.tiff
)

PRESENT = "present"  # the class set "every emotion the data has"

USAGE = {
    "training": "train", "train": "train",
    "publictest": "val", "val": "val", "validation": "val", "valid": "val",
    "privatetest": "test", "test": "test", "testing": "test",
}


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
        _refuse(layout, ("labels", "annotations", "subject_from", "ck_frames", "faces"), str(spec))
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

        _refuse(layout, ("ck_frames",), str(spec))
        entries, usage_from = annotation_entries(Path(layout.annotations), layout, path)
        return _load_files(path, Path(layout.annotations).parent, entries, usage_from, image_size, wanted, layout)
    if path.is_dir():
        entries, usage_from = _entries(path, layout)
        return _load_files(path, path, entries, usage_from, image_size, wanted, layout)
    _refuse(layout, ("subject_from", "ck_frames", "faces"), str(spec))
    if name.endswith((".csv", ".csv.gz")):
        return _load_csv(path, image_size, wanted, layout)
    if name.endswith(".npz"):
        return _load_arrays(path, image_size, wanted, _read_npz(path), layout)
    if name.endswith((".h5", ".hdf5")):
        return _load_arrays(path, image_size, wanted, _read_h5(path), layout)
    raise FersynError(f"{spec}: unknown data format; DATA is {FORMATS_HELP}")


# Where each layout field applies, for the error that refuses it elsewhere.
_APPLIES_TO = {
    "labels": "class folders, annotation CSVs and the labels of CSV or array files",
    "annotations": "a dataset folder",
    "subject_from": "image folders and annotation CSVs",
    "ck_frames": "the original CK+ distribution (cohn-kanade-images/ beside Emotion/)",
    "faces": "image folders and annotation CSVs (`faces` detect)",
}


def _refuse(layout: Layout, names: Iterable[str], source: str, kind: str = "this dataset") -> None:
    """A layout field given for a dataset it does not apply to is an error, not silently ignored."""
    given = layout.describe()
    for name in names:
        if name in given:
            raise FersynError(f"{source}: `{name}` applies to {_APPLIES_TO[name]}, not to {kind}; leave it out")


def to_square_gray(image: np.ndarray, size: int) -> np.ndarray:
    """One image (H×W, H×W×1 or H×W×3, uint8) as a size×size uint8 gray image, centre-cropped to square."""
    from PIL import Image

    if image.ndim == 3:
        image = image[..., 0] if image.shape[-1] == 1 else np.asarray(Image.fromarray(image).convert("L"))
    height, width = image.shape
    if height != width:  # crop, not stretch: a squashed face would change its expression cues
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        image = image[top : top + side, left : left + side]
    if image.shape[0] != size:
        image = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.LANCZOS))
    return image


def _subjects_from_names(stems: list[str], source: str) -> np.ndarray | None:
    """Subject ids parsed from file names, when every name follows one known convention."""
    for pattern in SUBJECT_PATTERNS:
        matches = [pattern.match(stem) for stem in stems]
        if stems and all(matches):
            return np.array([m.group(1) for m in matches])
        if sum(map(bool, matches)) > len(stems) // 2:
            odd = next(stem for stem, m in zip(stems, matches) if not m)
            log.warning("%s: some file names (e.g. %s) carry no subject id, so splits cannot keep subjects apart", source, odd)
    return None


def _assemble(
    source: str,
    images: list[np.ndarray] | np.ndarray,
    emotion_names: list[str],
    wanted: tuple[str, ...] | None,
    *,
    subjects: np.ndarray | None = None,
    usage: np.ndarray | None = None,
    names: np.ndarray,
    skipped: tuple[str, ...] = (),
) -> FaceSet:
    """Keep the wanted emotions (None: all present), check none is empty, and build the FaceSet."""
    emotion_array = np.array(emotion_names)
    present = set(emotion_array.tolist())
    wanted = wanted or tuple(e for e in ALL_EMOTIONS if e in present)
    keep = np.isin(emotion_array, wanted)
    dropped = {e: int(np.sum(emotion_array == e)) for e in sorted(present - set(wanted))}
    missing = [e for e in wanted if e not in present]
    if missing:
        have = ", ".join(e for e in ALL_EMOTIONS if e in present) or "nothing"
        raise FersynError(
            f"{source} has no images of {', '.join(missing)} (it has {have}); "
            f"choose `emotions` among those it has"
        )
    index = {e: i for i, e in enumerate(wanted)}
    kept = np.flatnonzero(keep)
    stacked = np.stack([images[i] for i in kept])[..., None]
    return FaceSet(
        images=stacked.astype(np.uint8),
        labels=np.array([index[emotion_names[i]] for i in kept]),
        emotions=wanted,
        source=source,
        subjects=None if subjects is None else subjects[kept],
        usage=None if usage is None else usage[kept],
        names=names[kept],
        dropped=dropped,
        skipped=skipped,
    )


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__")))


def _class_files(folder: Path) -> list[tuple[Path, Path]]:
    """(image file, its class folder) for every image in `folder`/<emotion>/."""
    return [(f, sub) for sub in _subfolders(folder) for f in sorted(sub.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]


def _entries(root: Path, layout: Layout) -> tuple[list[tuple[Path, str, str | None, str | None]], str | None]:
    """(file, emotion, predefined split, subject) of every image of the folder `root`, in one of its layouts:
    split folders ROOT/{train,val|validation,test}/<emotion>/… (FER2013 as most often downloaded), the original
    CK+ distribution, class folders ROOT/<emotion>/… or deeper (ROOT/<subject>/<emotion>/…), or a flat folder whose
    file names carry the emotion (JAFFE, RaFD). Also what split the layout predefines ("split folders"), or None.
    Folder names go through `layout`'s label map where it has one."""
    splits = {folder: USAGE[folder.name.lower()] for folder in _subfolders(root) if folder.name.lower() in USAGE}
    if splits:
        others = [folder.name for folder in _subfolders(root) if folder not in splits and _class_files(folder)]
        if others:
            raise FersynError(f"{root}: split folders ({', '.join(f.name for f in splits)}) beside class folders "
                              f"({', '.join(others)}); use one layout: ROOT/train/<emotion>/… or ROOT/<emotion>/… "
                              f"({layout.shown_by(root)})")
        files = []
        for folder in splits:
            found = _class_files(folder)
            if not found:
                raise FersynError(f"{folder}: a split folder with no class folder of images; a split-folder dataset "
                                  f"is ROOT/train/<emotion>/*.png (and test/, val/), e.g. {folder}/happy/0001.png "
                                  f"({layout.shown_by(root)})")
            files += found
    else:
        files = _class_files(root)
    if (root / CK_IMAGES).is_dir() and (root / CK_LABELS).is_dir():
        _refuse(layout, ("labels",), str(root), "the original CK+ distribution (its own codes)")
        return _ck_plus_entries(root, layout), None
    _refuse(layout, ("ck_frames",), str(root))
    if not splits and not (files and all(_is_emotion(folder.name, layout) for _, folder in files)):
        nested = _nested_class_entries(root, layout)
        if nested:
            return nested, None
    if files:
        label_of = {folder: _folder_emotion(folder, root, layout) for folder in sorted({folder for _, folder in files})}
        return [(file, label_of[folder], splits.get(folder.parent), None) for file, folder in files], (
            "split folders" if splits else None)
    flat = sorted(f for f in root.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
    _refuse(layout, ("labels",), str(root), "names that code the emotion (JAFFE, RaFD)")
    return _named_entries(root, flat, layout), None


def _is_emotion(name: str, layout: Layout) -> bool:
    try:
        layout.emotion(name)
    except FersynError:
        return False
    return True


def _nested_class_entries(root: Path, layout: Layout) -> list[tuple[Path, str, str | None, str | None]]:
    """Class folders deeper down (Oulu-CASIA's P001/Anger/000.jpeg): every folder named for an emotion that holds
    images, the folder above it taken as the subject."""
    class_folders = [folder for folder in sorted(root.rglob("*")) if folder.is_dir() and folder.parent != root
                     and _is_emotion(folder.name, layout) and any(f.suffix.lower() in IMAGE_SUFFIXES for f in folder.iterdir())]
    return [(file, layout.emotion(folder.name), None, folder.parent.name) for folder in class_folders
            for file in sorted(folder.iterdir()) if file.suffix.lower() in IMAGE_SUFFIXES]


# The original CK+ distribution: ROOT/cohn-kanade-images/S005/001/*.png, labelled by ROOT/Emotion/S005/001/*_emotion.txt.
CK_IMAGES, CK_LABELS = "cohn-kanade-images", "Emotion"


def _ck_plus_entries(root: Path, layout: Layout) -> list[tuple[Path, str, str | None, str | None]]:
    """The last frames of each labelled sequence (the apex) as its emotion and the first ones (the onset) as
    neutral, as many as `layout.ck_frames` says; subjects from the folders. Sequences without a label file (about
    two thirds of CK+) are left out."""
    from fersyn.data.emotions import CK_PLUS_CODES

    entries = []
    for label_file in sorted((root / CK_LABELS).glob("*/*/*_emotion.txt")):
        subject, sequence = label_file.parent.parent.name, label_file.parent.name
        text = label_file.read_text().strip()
        try:
            emotion = CK_PLUS_CODES[int(float(text))]
        except (ValueError, KeyError):
            raise FersynError(f"{label_file}: '{text}' is not a CK+ emotion code (0 neutral … 7 surprise); "
                              f"{layout.shown_by(root)}") from None
        frames = sorted(f for f in (root / CK_IMAGES / subject / sequence).glob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
        if not frames:
            raise FersynError(f"{label_file}: a label file with no image; its frames belong in "
                              f"{root / CK_IMAGES / subject / sequence}/ ({layout.shown_by(root)})")
        peak_frames, neutral_frames = layout.ck_frames
        peak = frames[-peak_frames:]
        onset = [f for f in frames[:neutral_frames] if f not in peak]
        entries += [(f, "neutral", None, subject) for f in onset] + [(f, emotion, None, subject) for f in peak]
    return entries


# File-name conventions that carry the emotion and the subject: a flat folder of such files needs no class folders.
EMOTION_NAMES: dict[str, tuple[re.Pattern[str], str]] = {
    "JAFFE": (re.compile(r"^(?P<subject>[A-Z]{2})\.(?P<emotion>[A-Z]{2})\d*\.\d+$"), "KA.AN1.39.tiff (AN, DI, FE, HA, NE, SA, SU)"),
    "RaFD": (re.compile(r"^Rafd\d+_(?P<subject>\d+)_[A-Za-z]+_[A-Za-z]+_(?P<emotion>[a-z]+)_[a-z]+$"),
             "Rafd090_01_Caucasian_female_angry_frontal.jpg"),
}


def _named_entries(root: Path, files: list[Path], layout: Layout) -> list[tuple[Path, str, str | None, str | None]]:
    """A flat folder's images, their emotion and subject read from their names by the one convention they all follow."""
    if not files:
        return []
    for convention, (pattern, example) in EMOTION_NAMES.items():
        matches = [pattern.match(file.stem) for file in files]
        if sum(map(bool, matches)) > len(files) // 2:
            entries = []
            for file, match in zip(files, matches):
                if not match:
                    raise FersynError(f"{file}: the name does not follow the {convention} convention of the other "
                                      f"files in {root}, e.g. {example}; rename or move it")
                try:
                    entries.append((file, canonical_emotion(match["emotion"]), None, match["subject"]))
                except FersynError:
                    raise FersynError(f"{file}: unknown emotion code '{match['emotion']}' in a {convention} name; "
                                      f"expected e.g. {example} ({layout.shown_by(root)})") from None
            return entries
    raise FersynError(f"{root}: its images are neither in class folders (ROOT/<emotion>/…) nor named by a known "
                      f"convention ({', '.join(f'{c}: {e}' for c, (_, e) in EMOTION_NAMES.items())}), e.g. {files[0].name}")


def _load_files(root: Path, base: Path, entries: list[tuple[Path, str, str | None, str | None]], usage_from: str | None,
                size: int, wanted: tuple[str, ...] | None, layout: Layout) -> FaceSet:
    """The image files `entries` lists (file, emotion, predefined split, subject), named relative to `base`: a dataset
    folder `root` in any of the layouts `_entries` reads, or the images of an annotation CSV. `layout` may set the
    subjects and crop the faces."""
    from PIL import Image

    if not entries:
        raise FersynError(
            f"{root}: no images found; a class-folder dataset is ROOT/<emotion>/*.png "
            f"(also jpg, jpeg, bmp, tif, tiff), e.g. {root}/happy/0001.png, or ROOT/train/<emotion>/… with test/"
        )
    cropper = None
    if layout.faces == "detect":
        from fersyn.data.faces import FaceCropper

        cropper = FaceCropper([file for file, *_ in entries])
    images, emotion_names, names, usage, subjects, skipped = [], [], [], [], [], []
    for file, emotion, split, subject in entries:
        try:
            with Image.open(file) as opened:
                opened.load()
                pixels = np.asarray(opened.convert("L"))
        except (OSError, SyntaxError, ValueError) as error:  # PIL's ways of saying "not a readable image"
            skipped.append(f"{file}: {error}")
            log.warning("skipping unreadable image %s (%s)", file, error)
            continue
        if cropper is not None:
            pixels = cropper.crop(file, pixels)
            if pixels is None:
                skipped.append(f"{file}: no face found")
                log.warning("skipping %s: no face found", file)
                continue
        name = Path(os.path.relpath(file, base)).as_posix()
        images.append(to_square_gray(pixels, size))
        emotion_names.append(emotion)
        names.append(name)
        usage.append(split)
        subjects.append(layout.subject(name) if layout.subject_from else subject)
    if cropper is not None:
        cropper.save()
    if not images and cropper is not None and len(skipped) == len(entries):
        raise FersynError(f"{root}: no face found in any of its {len(entries)} images by OpenCV's frontal-face detector; "
                          f"`faces` detect expects photos with a frontal face ({layout.shown_by(root)})")
    if not images:
        raise FersynError(f"{root}: none of its {len(entries)} image files could be read")
    named = None not in subjects
    faces = _assemble(
        str(root), images, emotion_names, wanted,
        subjects=np.array(subjects) if named else _subjects_from_names([Path(n).stem for n in names], str(root)),
        usage=np.array(usage) if usage_from else None, names=np.array(names), skipped=tuple(skipped),
    )
    if usage_from:
        faces.usage_from = usage_from
    return faces


def _folder_emotion(folder: Path, root: Path, layout: Layout) -> str:
    """The emotion a class folder stands for, with the folder named in the error."""
    try:
        return layout.emotion(folder.name)
    except FersynError as error:
        if layout.labels:
            raise FersynError(f"{folder}: {error} ({layout.shown_by(root)})") from None
        raise FersynError(f"{folder}: folder name is not an emotion: {error}") from None


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
    return _assemble(str(path), images, emotion_names, wanted, subjects=subjects, usage=usage, names=names)


def label_at(path: Path, row: int, label: object, layout: Layout) -> str:
    """The canonical emotion of one row's label, with the file and row named in the error."""
    try:
        return layout.emotion(label)
    except FersynError as error:
        shown = f" ({layout.shown_by(path)})" if layout.labels else ""
        raise FersynError(f"{path}: row {row}: {error}{shown}") from None


def usage_at(path: Path, row: int, usage: str) -> str:
    """The split ('train', 'val' or 'test') one row's Usage or split value names, with the file and row in the error."""
    key = usage.strip().lower()
    if key not in USAGE:
        raise FersynError(
            f"{path}: row {row}: unknown Usage '{usage}'; expected Training, PublicTest or PrivateTest "
            f"(or train, val, test)"
        )
    return USAGE[key]


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
    return _assemble(str(path), resized, emotion_names, wanted, subjects=subjects, usage=usage, names=names)


def _decode(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
