import pytest

from fersyn.data.emotions import EKMAN, FER2013_CODES, canonical_emotion, parse_emotions
from fersyn.errors import FersynError


@pytest.mark.parametrize(
    "label, expected",
    [("angry", "anger"), ("Happy", "happiness"), ("sad", "sadness"), ("disgusted", "disgust"),
     ("fearful", "fear"), ("surprised", "surprise"), ("contempt", "contempt"), ("NE", "neutral"),
     (3, "happiness"), ("6", "neutral"), ("Surprise", "surprise")],
)
def test_spellings_map_to_canonical_names(label, expected):
    assert canonical_emotion(label) == expected


def test_fer2013_codes_cover_the_seven_classes():
    assert [FER2013_CODES[code] for code in range(7)] == list(EKMAN) + ["neutral"]


def test_unknown_label_names_the_closest_match():
    with pytest.raises(FersynError, match="unknown emotion label 'hapy'.*did you mean 'happiness'"):
        canonical_emotion("hapy")
    with pytest.raises(FersynError, match="FER2013 codes are 0-6"):
        canonical_emotion(9)


def test_class_sets():
    assert parse_emotions(None) == EKMAN
    assert parse_emotions("ekman+neutral") == EKMAN + ("neutral",)
    assert parse_emotions("surprised, happy") == ("happiness", "surprise")  # canonical order
    assert len(parse_emotions("all")) == 8
