"""Reading image folders: class-folder trees at any depth, split folders, the original CK+ distribution, and flat
folders whose file names code the emotion (JAFFE, RaFD); each image becomes a square grayscale face."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np

from fersyn.data.assemble import USAGE, assemble, refuse_layout, subjects_from_names, to_square_gray
from fersyn.data.emotions import canonical_emotion
from fersyn.data.faceset import FaceSet
from fersyn.data.layout import Layout
from fersyn.errors import FersynError

log = logging.getLogger("fersyn")

# The original CK+ distribution: ROOT/cohn-kanade-images/S005/001/*.png, labelled by ROOT/Emotion/S005/001/*_emotion.txt.
CK_IMAGES, CK_LABELS = "cohn-kanade-images", "Emotion"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__")))


def _class_files(folder: Path) -> list[tuple[Path, Path]]:
    """(image file, its class folder) for every image in `folder`/<emotion>/."""
    return [(f, sub) for sub in _subfolders(folder) for f in sorted(sub.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]


def folder_entries(root: Path, layout: Layout) -> tuple[list[tuple[Path, str, str | None, str | None]], str | None]:
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
        refuse_layout(layout, ("labels",), str(root), "the original CK+ distribution (its own codes)")
        return _ck_plus_entries(root, layout), None
    refuse_layout(layout, ("ck_frames",), str(root))
    if not splits and not (files and all(_is_emotion(folder.name, layout) for _, folder in files)):
        nested = _nested_class_entries(root, layout)
        if nested:
            return nested, None
    if files:
        label_of = {folder: _folder_emotion(folder, root, layout) for folder in sorted({folder for _, folder in files})}
        return [(file, label_of[folder], splits.get(folder.parent), None) for file, folder in files], (
            "split folders" if splits else None)
    flat = sorted(f for f in root.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
    refuse_layout(layout, ("labels",), str(root), "names that code the emotion (JAFFE, RaFD)")
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


def load_files(root: Path, base: Path, entries: list[tuple[Path, str, str | None, str | None]], usage_from: str | None,
                size: int, wanted: tuple[str, ...] | None, layout: Layout) -> FaceSet:
    """The image files `entries` lists (file, emotion, predefined split, subject), named relative to `base`: a dataset
    folder `root` in any of the layouts `folder_entries` reads, or the images of an annotation CSV. `layout` may set the
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
    faces = assemble(
        str(root), images, emotion_names, wanted,
        subjects=np.array(subjects) if named else subjects_from_names([Path(n).stem for n in names], str(root)),
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


# File-name conventions that carry the emotion and the subject: a flat folder of such files needs no class folders.
EMOTION_NAMES: dict[str, tuple[re.Pattern[str], str]] = {
    "JAFFE": (re.compile(r"^(?P<subject>[A-Z]{2})\.(?P<emotion>[A-Z]{2})\d*\.\d+$"), "KA.AN1.39.tiff (AN, DI, FE, HA, NE, SA, SU)"),
    "RaFD": (re.compile(r"^Rafd\d+_(?P<subject>\d+)_[A-Za-z]+_[A-Za-z]+_(?P<emotion>[a-z]+)_[a-z]+$"),
             "Rafd090_01_Caucasian_female_angry_frontal.jpg"),
}
