"""Shared fixtures. Real data lives in ../shared/data (never in this repository): tests that need it
skip where it is absent (a user's fresh clone), but fail instead when FERSYN_REQUIRE_SHARED_DATA=1,
as .ci/run sets, so that CI always runs them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _shared(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        message = f"real data {path} is absent (it lives beside the repository, in ../shared/data)"
        if os.environ.get("FERSYN_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(message + " and FERSYN_REQUIRE_SHARED_DATA=1 requires it")
        pytest.skip(message)
    return path


@pytest.fixture
def ck48() -> Path:
    return _shared("CK+48")


@pytest.fixture
def fer2013() -> Path:
    return _shared("fer2013-subset.csv.gz")
