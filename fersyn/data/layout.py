"""Layout: how to read a dataset whose files do not say everything themselves — a label map for numeric class
folders, an annotation CSV, where the subject is, how many CK+ frames to take, whether to find and crop faces.

The default Layout reads every dataset as fersyn always has; `describe()` gives only what differs from it,
so records and fingerprints of runs made without a layout stay unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any, Mapping

from fersyn.data.emotions import canonical_emotion
from fersyn.errors import FersynError

# Label maps of datasets whose class folders or annotations are numbered.
LABEL_PRESETS: dict[str, dict[str, str]] = {
    "rafdb": {"1": "surprise", "2": "fear", "3": "disgust", "4": "happiness", "5": "sadness", "6": "anger",
              "7": "neutral"},
    "affectnet": {"0": "neutral", "1": "happiness", "2": "sadness", "3": "surprise", "4": "fear", "5": "disgust",
                  "6": "anger", "7": "contempt"},
}
FACES = ("as-is", "detect")  # as-is: images are already face crops; detect: find, align and crop the face
CK_FRAMES = (3, 1)  # the original CK+: the last 3 frames of a labelled sequence show its emotion, the first is neutral
_FOLDER_LEVEL = re.compile(r"^(?:folder:)?(\d+)$")


@dataclass(frozen=True)
class Layout:
    """How to read a dataset (fersyn.data.load_dataset); every field's default reads it as fersyn always has.

    labels:       a label map for folder names and annotation labels: `1=surprise,2=fear,…`, a mapping, or a
                  preset name (rafdb, affectnet); stored as (label, emotion) pairs.
    annotations:  a CSV with columns `path,label[,subject][,split]` (paths relative to the CSV); DATA is then
                  the dataset's folder.
    subject_from: the subject of each image: `folder:N` (or N), the N-th folder above the file (1: the one
                  holding it), or a regular expression with one group, searched in the file name.
    ck_frames:    (peak, neutral) frames taken from each labelled sequence of the original CK+ distribution.
    faces:        `as-is`, or `detect`: find the largest face, align it by the eyes, crop a square around it.
    """

    labels: tuple[tuple[str, str], ...] | str | Mapping[str, str] | None = None
    annotations: str | None = None
    subject_from: str | int | None = None
    ck_frames: tuple[int, int] | str = CK_FRAMES
    faces: str = "as-is"

    def __post_init__(self) -> None:
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen: normalise once)
        set_("labels", _label_map(self.labels))
        if self.annotations is not None:
            set_("annotations", str(self.annotations))
        if self.subject_from is not None:
            set_("subject_from", _subject_rule(self.subject_from))
        set_("ck_frames", _ck_frames(self.ck_frames))
        if self.faces not in FACES:
            raise FersynError(f"`faces` {self.faces!r}: unknown (known: {', '.join(FACES)})")

    def emotion(self, label: object) -> str:
        """The canonical emotion of a dataset's label: through the label map where one is given."""
        if not self.labels:
            return canonical_emotion(label)
        label = str(label).strip()
        mapped = dict(self.labels).get(label)
        if mapped is None:
            pairs = ",".join(f"{key}={value}" for key, value in self.labels)
            raise FersynError(f"label '{label}' is not in the label map `labels` {_spelled(self.labels)} (which names "
                              f"{', '.join(key for key, _ in self.labels)}); give a map with every label, e.g. "
                              f"`labels` {pairs},{label}=EMOTION")
        return mapped

    def subject(self, relative_path: str) -> str:
        """The subject of the file at `relative_path` (below the dataset's folder) by the `subject_from` rule."""
        level = _FOLDER_LEVEL.match(self.subject_from)
        parts = relative_path.replace("\\", "/").split("/")
        if level:
            depth = int(level[1])
            if depth >= len(parts):
                raise FersynError(f"{relative_path}: `subject_from` {self.subject_from} asks for the folder {depth} "
                                  f"level(s) above the file, but the path has only {len(parts) - 1}")
            return parts[-1 - depth]
        found = re.search(self.subject_from, parts[-1])
        if not found:
            raise FersynError(f"{relative_path}: the file name does not match `subject_from` {self.subject_from!r} "
                              f"(a pattern with one group, searched in each file name)")
        return found[1]

    def describe(self) -> dict[str, Any]:
        """The fields that differ from the default, JSON-ready (labels spelled as a preset name where one matches)."""
        described = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if value != field.default:
                described[field.name] = _spelled(value) if field.name == "labels" else (
                    list(value) if isinstance(value, tuple) else value)
        return described

    def shown_by(self, data: object) -> str:
        """The command that shows how `data` is read under this layout, for error messages."""
        return f"`fersyn data info {data}{as_flags(self.describe())}` shows the layout read"


def as_flags(described: Mapping[str, Any]) -> str:
    """The command-line options that give a layout from its `describe()` (empty for the default)."""
    return "".join(f" --{name.replace('_', '-')} {','.join(map(str, value)) if isinstance(value, list) else value}"
                   for name, value in described.items())


def _label_map(labels: Any) -> tuple[tuple[str, str], ...] | None:
    if labels is None or labels == () or labels == "":
        return None
    if isinstance(labels, str):
        text = labels.strip()
        if text.lower() in LABEL_PRESETS:
            labels = LABEL_PRESETS[text.lower()]
        else:
            pairs = [part.partition("=") for part in text.split(",") if part.strip()]
            bad = [key + equals + value for key, equals, value in pairs if not equals or not key.strip()]
            if bad:
                raise FersynError(f"`labels` {text!r}: write LABEL=EMOTION pairs such as 1=surprise,2=fear, or a "
                                  f"preset ({', '.join(LABEL_PRESETS)})")
            labels = {key.strip(): value.strip() for key, _, value in pairs}
    pairs = dict(labels).items()
    mapped = []
    for key, value in pairs:
        try:
            mapped.append((str(key).strip(), canonical_emotion(value)))
        except FersynError as error:
            raise FersynError(f"`labels` {key}={value}: {error}") from None
    return tuple(sorted(mapped, key=lambda pair: (len(pair[0]), pair[0])))  # 2 before 10


def _spelled(labels: tuple[tuple[str, str], ...]) -> str:
    """A label map as its preset name where it is one, else as LABEL=EMOTION pairs."""
    for name, preset in LABEL_PRESETS.items():
        if dict(labels) == preset:
            return name
    return ",".join(f"{key}={value}" for key, value in labels)


def _subject_rule(rule: str | int) -> str:
    rule = f"folder:{rule}" if isinstance(rule, int) and not isinstance(rule, bool) else str(rule)
    level = _FOLDER_LEVEL.match(rule)
    if level:
        if int(level[1]) < 1:
            raise FersynError(f"`subject_from` {rule}: folder levels count from 1 (the folder holding the file)")
        return f"folder:{int(level[1])}"
    try:
        groups = re.compile(rule).groups
    except re.error as error:
        raise FersynError(f"`subject_from` {rule!r} is not a valid regular expression ({error})") from None
    if groups != 1:
        raise FersynError(f"`subject_from` {rule!r}: a pattern needs exactly one group, the subject, e.g. '^(S\\d+)_' "
                          f"(or give folder:N)")
    return rule


def _ck_frames(frames: tuple[int, int] | str) -> tuple[int, int]:
    try:
        peak, neutral = (int(n) for n in (frames.split(",") if isinstance(frames, str) else frames))
    except (TypeError, ValueError):
        raise FersynError(f"`ck_frames` {frames!r}: give PEAK,NEUTRAL frame counts such as 3,1") from None
    if peak < 1 or neutral < 0:
        raise FersynError(f"`ck_frames` {peak},{neutral}: take at least 1 peak frame and 0 or more neutral ones")
    return peak, neutral


DEFAULT_LAYOUT = Layout()  # reads every dataset as fersyn always has
