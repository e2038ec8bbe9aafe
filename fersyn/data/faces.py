"""`faces="detect"`: find the largest face in each photo, level its eyes, and crop a square around it.

The detector is OpenCV's Haar cascades (frontal face, then eyes inside it), whose models ship inside the
opencv-python-headless wheel (`cv2.data.haarcascades`, releases before 5: OpenCV 5 moved the cascades out of
its main package), so nothing is downloaded at run time. Where/what it found in each image (a placement) is
cached per dataset — the contents of its files — and detector settings, so that a sweep loading the same data
again does not detect again. A placement is a few numbers: any image size is cut from it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from fersyn.errors import FersynError
from fersyn.runtime.files import atomic_output, cache_root

log = logging.getLogger("fersyn")

INSTALL_HINT = "pip install 'fersyn[faces]' (OpenCV: opencv-python-headless<5)"
# Everything that decides a placement: part of the cache key, so that changing one detects again.
DETECTOR: dict[str, Any] = {
    "faces": "haarcascade_frontalface_default.xml", "eyes": "haarcascade_eye.xml",
    "scale_factor": 1.1, "min_neighbors": 5,
    "min_face": 0.1,  # of the image's shorter side: smaller hits in a portrait are background texture
    "detect_side": 640,  # photos are shrunk to at most this for detection (speed), placements scaled back
    "margin": 0.2,  # of the face box's side, added on each side of the crop: the cascade's box cuts the chin and brow
    "max_tilt": 30,  # degrees; eyes found at a steeper angle are a false pair, and the face is left unrotated
    "version": 1,
}

Placement = tuple[float, float, float, float]  # centre x, centre y, side of the square crop, rotation in degrees


def cache_folder() -> Path:
    return cache_root() / "faces"


def _opencv() -> Any:
    try:
        import cv2
    except ImportError:
        raise FersynError(f"`faces` detect needs OpenCV: {INSTALL_HINT}") from None
    if not hasattr(cv2, "CascadeClassifier") or not Path(cv2.data.haarcascades, DETECTOR["faces"]).is_file():
        raise FersynError(f"`faces` detect needs OpenCV's Haar cascades, which OpenCV {cv2.__version__} does not ship: "
                          f"{INSTALL_HINT}")
    return cv2


class FaceCropper:
    """Crops the face of each of a dataset's image files (see the module doc); `save()` keeps what was found."""

    def __init__(self, files: Sequence[Path]) -> None:
        self.cv2 = _opencv()
        self.face_cascade, self.eye_cascade = (self.cv2.CascadeClassifier(str(Path(self.cv2.data.haarcascades, DETECTOR[k])))
                                               for k in ("faces", "eyes"))
        self.digests = {file: _digest(file) for file in files}
        key = hashlib.sha256(json.dumps(DETECTOR, sort_keys=True).encode())
        key.update("\n".join(sorted(set(self.digests.values()))).encode())
        self.cache = cache_folder() / f"{key.hexdigest()[:16]}.json"
        try:
            self.placements: dict[str, Placement | None] = json.loads(self.cache.read_text())
        except (OSError, ValueError):  # none yet, or unreadable: detect again
            self.placements = {}
        self.found_new = False

    def crop(self, file: Path, gray: np.ndarray) -> np.ndarray | None:
        """The square face crop of `file` (whose pixels are `gray`), or None where no face is found."""
        digest = self.digests[file]
        if digest not in self.placements:
            self.placements[digest] = self.locate(gray)
            self.found_new = True
        placement = self.placements[digest]
        return None if placement is None else self.cut(gray, placement)

    def locate(self, gray: np.ndarray) -> Placement | None:
        """Where the largest face is, and the rotation that levels its eyes (0 unless two eyes are found)."""
        scale = min(1.0, DETECTOR["detect_side"] / max(gray.shape))
        small = gray if scale == 1 else self.cv2.resize(gray, None, fx=scale, fy=scale, interpolation=self.cv2.INTER_AREA)
        least = max(20, int(DETECTOR["min_face"] * min(small.shape)))
        boxes = self.face_cascade.detectMultiScale(small, scaleFactor=DETECTOR["scale_factor"],
                                                   minNeighbors=DETECTOR["min_neighbors"], minSize=(least, least))
        if len(boxes) == 0:
            return None
        x, y, w, h = (float(v) / scale for v in max(boxes.tolist(), key=lambda box: box[2] * box[3]))
        return x + w / 2, y + h / 2, w * (1 + 2 * DETECTOR["margin"]), self._eye_angle(gray, int(x), int(y), int(w), int(h))

    def _eye_angle(self, gray: np.ndarray, x: int, y: int, w: int, h: int) -> float:
        """Degrees (counter-clockwise) that make the line between the two eyes horizontal; 0 without two eyes."""
        upper = gray[y : y + int(0.6 * h), x : x + w]
        least = max(8, w // 10)
        eyes = self.eye_cascade.detectMultiScale(upper, scaleFactor=DETECTOR["scale_factor"],
                                                 minNeighbors=DETECTOR["min_neighbors"], minSize=(least, least))
        sides: dict[bool, tuple[float, float, float]] = {}  # right half? → (area, centre x, centre y), the largest
        for ex, ey, ew, eh in np.asarray(eyes).reshape(-1, 4).tolist():
            centre_x, centre_y = ex + ew / 2, ey + eh / 2
            if centre_y < 0.55 * h and ew * eh > sides.get(centre_x > w / 2, (0,))[0]:
                sides[centre_x > w / 2] = (ew * eh, centre_x, centre_y)
        if len(sides) < 2:
            return 0.0
        (_, left_x, left_y), (_, right_x, right_y) = sides[False], sides[True]
        angle = math.degrees(math.atan2(right_y - left_y, right_x - left_x))
        return angle if abs(angle) <= DETECTOR["max_tilt"] else 0.0

    def cut(self, gray: np.ndarray, placement: Placement) -> np.ndarray:
        """The square `placement` describes, rotated upright; edges beyond the photo repeat its border."""
        centre_x, centre_y, side, angle = placement
        size = max(1, int(round(side)))
        matrix = self.cv2.getRotationMatrix2D((centre_x, centre_y), angle, 1.0)
        matrix[:, 2] += (size / 2 - centre_x, size / 2 - centre_y)
        return self.cv2.warpAffine(gray, matrix, (size, size), flags=self.cv2.INTER_LINEAR,
                                   borderMode=self.cv2.BORDER_REPLICATE)

    def save(self) -> None:
        """Keep the placements found in this run for the next (written whole or not at all)."""
        if not self.found_new:
            return
        try:
            self.cache.parent.mkdir(parents=True, exist_ok=True)
            with atomic_output(self.cache) as temporary:
                temporary.write_text(json.dumps(self.placements))
        except (OSError, FersynError) as error:  # a cache that cannot be written only costs time
            log.warning("could not cache face placements in %s (%s); the next run detects again", self.cache, error)


def _digest(file: Path) -> str:
    try:
        return hashlib.sha256(file.read_bytes()).hexdigest()
    except OSError:  # the loader reports it as unreadable
        return f"unreadable:{file}"
