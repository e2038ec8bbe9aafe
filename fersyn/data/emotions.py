"""The canonical emotion vocabulary and the maps from the spellings datasets use.

Every label that enters fersyn is mapped onto one of ``ALL_EMOTIONS``. The default class set is
the Ekman six; neutral and contempt exist in some datasets and are used only when asked for.
"""

from __future__ import annotations

from typing import Iterable

from fersyn.errors import FersynError
from fersyn.runtime.text import closest

EKMAN: tuple[str, ...] = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
ALL_EMOTIONS: tuple[str, ...] = EKMAN + ("neutral", "contempt")

# FER2013's `emotion` column.
FER2013_CODES: dict[int, str] = {
    0: "anger",
    1: "disgust",
    2: "fear",
    3: "happiness",
    4: "sadness",
    5: "surprise",
    6: "neutral",
}

# The original CK+ distribution's Emotion/*_emotion.txt codes.
CK_PLUS_CODES: dict[int, str] = {
    0: "neutral", 1: "anger", 2: "contempt", 3: "disgust", 4: "fear", 5: "happiness", 6: "sadness", 7: "surprise",
}

_ALIASES: dict[str, str] = {
    # anger
    "angry": "anger", "anger": "anger", "an": "anger", "mad": "anger",
    # disgust
    "disgust": "disgust", "disgusted": "disgust", "disgusting": "disgust", "di": "disgust",
    # fear
    "fear": "fear", "fearful": "fear", "afraid": "fear", "scared": "fear", "fe": "fear",
    # happiness
    "happiness": "happiness", "happy": "happiness", "joy": "happiness", "ha": "happiness",
    # sadness
    "sadness": "sadness", "sad": "sadness", "sa": "sadness",
    # surprise
    "surprise": "surprise", "surprised": "surprise", "su": "surprise",
    # neutral
    "neutral": "neutral", "ne": "neutral", "calm": "neutral",
    # contempt
    "contempt": "contempt", "contemptuous": "contempt",
}

# Names accepted by `parse_emotions` for whole class sets.
_SETS: dict[str, tuple[str, ...]] = {
    "ekman": EKMAN,
    "ekman+neutral": EKMAN + ("neutral",),
    "all": ALL_EMOTIONS,
}


def canonical_emotion(label: object) -> str:
    """Map a dataset's label (a name in any usual spelling, or a FER2013 code) to the canonical name.

    Raises FersynError naming the label, the known names and the closest match.
    """
    if isinstance(label, (int,)) or (isinstance(label, str) and label.strip().isdigit()):
        code = int(label)
        if code in FER2013_CODES:
            return FER2013_CODES[code]
        raise FersynError(
            f"unknown emotion code {code}: FER2013 codes are 0-6 "
            f"({', '.join(f'{k} {v}' for k, v in FER2013_CODES.items())})"
        )
    key = str(label).strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    if key in _ALIASES:
        return _ALIASES[key]
    hint = closest(key, _ALIASES)
    suggestion = f" (did you mean '{_ALIASES[hint]}'?)" if hint else ""
    raise FersynError(
        f"unknown emotion label '{label}'{suggestion}; known emotions: {', '.join(ALL_EMOTIONS)}"
    )


def parse_emotions(spec: str | Iterable[str] | None) -> tuple[str, ...]:
    """Turn a class-set spec into canonical emotions, in canonical order.

    `spec` is None (the Ekman six), a set name (`ekman`, `ekman+neutral`, `all`), a comma list of
    emotion names in any usual spelling, or an iterable of names.
    """
    if spec is None:
        return EKMAN
    if isinstance(spec, str):
        if spec.strip().lower() in _SETS:
            return _SETS[spec.strip().lower()]
        names = [part for part in spec.split(",") if part.strip()]
    else:
        names = list(spec)
    if not names:
        raise FersynError("no emotions given: pass a comma list such as 'happiness,sadness' or 'ekman'")
    wanted = {canonical_emotion(name) for name in names}
    return tuple(emotion for emotion in ALL_EMOTIONS if emotion in wanted)
