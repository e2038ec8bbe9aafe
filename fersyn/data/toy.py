"""`toy`: procedural faces with a known ground truth, rendered by fersyn itself (no file shipped).

Identities vary in head shape, face proportions, skin tone, hair line, lighting gradient, background;
every image adds a small pose shift (translation, rotation, scale) and sensor noise. Expressions are
built from FACS action units (AUs) with a random intensity per image:

    anger      AU4 brow lowerer + AU5 upper-lid raiser + AU7 lid tightener + AU23 lip tightener
    disgust    AU9 nose wrinkler + AU15 lip-corner depressor + AU16 lower-lip depressor
    fear       AU1+2 brow raisers + AU4 + AU5 + AU20 lip stretcher + AU26 jaw drop
    happiness  AU6 cheek raiser + AU12 lip-corner puller
    sadness    AU1 inner-brow raiser + AU4 + AU15
    surprise   AU1+2 + AU5 + AU26
    contempt   AU14 on one side (one lip corner raised);  neutral: no AU

Expressions move geometry only and pose jitter moves every feature, so neither one pixel nor the
global brightness gives the class away; a CNN has to find the brows, eyes and mouth. Rendering is
vectorised over a batch with soft (anti-aliased) shape edges at twice the output size.
"""

from __future__ import annotations

import functools

import numpy as np

from fersyn.data.emotions import EKMAN
from fersyn.data.faceset import FaceSet

EMOTION_AUS: dict[str, dict[int, float]] = {
    "anger": {4: 1.0, 5: 0.6, 7: 0.8, 23: 1.0},
    "disgust": {9: 1.0, 15: 0.8, 16: 1.0},
    "fear": {1: 1.0, 2: 0.8, 4: 0.7, 5: 1.0, 20: 1.0, 26: 0.6},
    "happiness": {6: 1.0, 12: 1.0},
    "sadness": {1: 1.0, 4: 0.6, 15: 1.0},
    "surprise": {1: 1.0, 2: 1.0, 5: 1.0, 26: 1.0},
    "contempt": {14: 1.0},
    "neutral": {},
}

_SUPERSAMPLE = 2
_BATCH = 256

# Identity parameters: name -> (low, high) of a uniform draw, in face units (head ≈ [-1, 1]).
_IDENTITY_RANGES: dict[str, tuple[float, float]] = {
    "head_w": (0.56, 0.70), "head_h": (0.74, 0.86), "jaw": (0.0, 0.3),
    "skin": (0.42, 0.82), "background": (0.05, 0.95), "bg_slope": (-0.25, 0.25),
    "hair": (0.03, 0.35), "hairline": (-0.62, -0.36), "hair_wave": (0.0, 0.06), "hair_side": (0.0, 1.0),
    "eye_y": (-0.16, -0.06), "eye_dx": (0.20, 0.27), "eye_w": (0.085, 0.115), "eye_h": (0.038, 0.05),
    "brow_gap": (0.10, 0.13), "brow_t": (0.02, 0.032), "brow_len": (0.14, 0.19), "brow_tone": (0.05, 0.35),
    "nose_len": (0.17, 0.24), "nose_w": (0.05, 0.075),
    "mouth_y": (0.32, 0.42), "mouth_w": (0.15, 0.21), "lip_t": (0.016, 0.028),
    "light_angle": (0.0, 2 * np.pi), "light": (0.0, 0.45),
}


def random_identities(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw `n` identities: one array of length n per identity parameter."""
    return {name: rng.uniform(low, high, n) for name, (low, high) in _IDENTITY_RANGES.items()}


def render_faces(
    identities: dict[str, np.ndarray],
    who: np.ndarray,
    emotions: list[str] | np.ndarray,
    rng: np.random.Generator,
    image_size: int = 48,
) -> np.ndarray:
    """Render face `i` as identity `who[i]` showing `emotions[i]`; returns uint8 N×S×S×1.

    Intensity, pose and noise are drawn from `rng` per image.
    """
    who = np.asarray(who)
    out = np.empty((len(who), image_size, image_size, 1), np.uint8)
    for start in range(0, len(who), _BATCH):
        stop = min(start + _BATCH, len(who))
        params = {k: v[who[start:stop]] for k, v in identities.items()}
        aus = _action_units(list(emotions[start:stop]), rng)
        out[start:stop, ..., 0] = _render_batch(params, aus, rng, image_size)
    return out


def toy_faceset(
    identities: int = 120,
    repeats: int = 2,
    image_size: int = 48,
    emotions: tuple[str, ...] = EKMAN,
    seed: int = 0,
) -> FaceSet:
    """The `toy` dataset: every identity shows every emotion `repeats` times (subject id = identity)."""
    images, labels, subjects, names = _toy_arrays(identities, repeats, image_size, tuple(emotions), seed)
    return FaceSet(images=images.copy(), labels=labels.copy(), emotions=tuple(emotions), source="toy",
                   subjects=subjects.copy(), names=names.copy())


@functools.lru_cache(maxsize=16)  # rendering takes seconds; tests and a sweep ask for the same set again (3 MB each)
def _toy_arrays(identities: int, repeats: int, image_size: int, emotions: tuple[str, ...], seed: int):
    rng = np.random.default_rng(seed)
    people = random_identities(identities, rng)
    who = np.repeat(np.arange(identities), len(emotions) * repeats)
    labels = np.tile(np.repeat(np.arange(len(emotions)), repeats), identities)
    images = render_faces(people, who, [emotions[label] for label in labels], rng, image_size)
    subjects = np.array([f"T{i:04d}" for i in who])
    names = np.array([f"{s}_{emotions[label]}_{i % repeats}" for i, (s, label) in enumerate(zip(subjects, labels))])
    return images, labels, subjects, names


def _action_units(emotions: list[str], rng: np.random.Generator) -> dict[int, np.ndarray]:
    """AU intensities per image: the emotion's AU weights × one random intensity × a little per-AU jitter."""
    n = len(emotions)
    strength = rng.uniform(0.55, 1.0, n)
    aus = {au: np.zeros(n) for au in (1, 2, 4, 5, 6, 7, 9, 12, 14, 15, 16, 20, 23, 26)}  # every AU the renderer reads
    for i, emotion in enumerate(emotions):
        for au, weight in EMOTION_AUS[emotion].items():
            aus[au][i] = weight * strength[i] * rng.uniform(0.85, 1.1)
    return aus


def _soft(distance: np.ndarray, edge: float) -> np.ndarray:
    """Coverage of a shape from its signed distance (negative inside), a linear ramp `edge` wide."""
    return np.clip(0.5 - distance / edge, 0.0, 1.0)


def _band(x, y, centre_x, half_width, curve_y, thickness, edge):
    """A stroke of `thickness` along y = curve_y(x) for |x - centre_x| < half_width."""
    along = _soft(np.abs(x - centre_x) - half_width, edge)
    return along * _soft(np.abs(y - curve_y) - thickness, edge)


def _render_batch(p: dict[str, np.ndarray], au: dict[int, np.ndarray], rng: np.random.Generator, size: int) -> np.ndarray:
    n = len(p["skin"])
    res = size * _SUPERSAMPLE
    edge = 1.0 / res  # one supersampled pixel, in face units (the image spans [-1, 1])
    col = lambda values: np.asarray(values, dtype=np.float32).reshape(n, 1, 1)  # noqa: E731  (broadcast per image)
    p = {k: col(v) for k, v in p.items()}
    a = {k: col(v) for k, v in au.items()}

    grid = ((np.arange(res) + 0.5) / res * 2 - 1).astype(np.float32)
    gx, gy = np.meshgrid(grid, grid)
    gx, gy = gx[None], gy[None]

    # Pose: small shift, rotation and scale per image, applied by moving the sampling grid.
    angle = col(rng.normal(0, 0.08, n))
    shift_x, shift_y = col(rng.normal(0, 0.04, n)), col(rng.normal(0.08, 0.04, n))
    scale = col(rng.uniform(1.12, 1.28, n))  # the face fills the frame, as in cropped datasets
    cx, cy = (gx - shift_x) / scale, (gy - shift_y) / scale
    x = cx * np.cos(angle) + cy * np.sin(angle)
    y = -cx * np.sin(angle) + cy * np.cos(angle)
    ax = np.abs(x)  # the face is drawn symmetric about x = 0, but for one-sided AU14

    image = _draw_head(p, a, gx, x, y, ax, edge)
    image = _draw_eyes_and_brows(image, p, a, y, ax, edge)
    image = _draw_nose_and_mouth(image, p, a, x, y, ax, edge)

    # Lighting gradient across the whole picture, then sensor noise.
    light = 1 + p["light"] * (gx * np.cos(p["light_angle"]) + gy * np.sin(p["light_angle"])) / 1.4
    image = image * light
    image = image.reshape(n, size, _SUPERSAMPLE, size, _SUPERSAMPLE).mean(axis=(2, 4))
    image = image + rng.normal(0, 1, image.shape) * rng.uniform(0.008, 0.03, (n, 1, 1))
    return np.clip(np.round(image * 255), 0, 255).astype(np.uint8)


def _draw_head(p: dict, a: dict, gx: np.ndarray, x: np.ndarray, y: np.ndarray, ax: np.ndarray, edge: float) -> np.ndarray:
    # Background with a gradient, neck, head.
    image = np.clip(p["background"] + p["bg_slope"] * gx, 0, 1) * np.ones_like(x)
    skin = p["skin"]
    jaw_drop = 0.05 * a[26]
    head_h = p["head_h"] + jaw_drop
    width_at_y = p["head_w"] * (1 - p["jaw"] * np.clip(y / head_h, 0, 1) ** 2)
    head = _soft(np.sqrt((x / width_at_y) ** 2 + (y / head_h) ** 2) - 1, edge / p["head_w"])
    neck = _soft(np.abs(x) - 0.55 * p["head_w"], edge) * _soft(-(y - 0.5), edge)
    image = _mix(image, 0.85 * skin, neck)
    image = _mix(image, skin, head)

    # Hair: a cap above a wavy hair line, and optionally down the sides.
    hairline = p["hairline"] + p["hair_wave"] * np.cos(7 * x) + 0.25 * x ** 2
    cap = _soft(y - hairline, edge) * _soft(np.sqrt((x / (p["head_w"] + 0.05)) ** 2 + (y / (head_h + 0.05)) ** 2) - 1, edge)
    sides = (p["hair_side"] > 0.5) * _soft(-(ax - p["head_w"] * 0.93), edge) * _soft(y - 0.15, edge) * _soft(np.sqrt((x / (p["head_w"] + 0.06)) ** 2 + (y / (head_h + 0.02)) ** 2) - 1, edge)
    image = _mix(image, p["hair"], np.maximum(cap, sides))

    # Cheeks raised (AU6): a lighter bulge under each eye.
    cheek = _soft(np.sqrt(((ax - p["eye_dx"]) / 0.1) ** 2 + ((y - p["eye_y"] - 0.15 + 0.04 * a[6]) / 0.06) ** 2) - 1, edge * 10)
    image = _mix(image, np.clip(skin + 0.12, 0, 1), 0.7 * a[6] * cheek)

    return image


def _draw_eyes_and_brows(image: np.ndarray, p: dict, a: dict, y: np.ndarray, ax: np.ndarray, edge: float) -> np.ndarray:
    skin = p["skin"]
    # Eyes: sclera, iris, and the upper-lid line. AU5 opens, AU6/AU7 narrow.
    eye_h = p["eye_h"] * (1 + 0.7 * a[5]) * (1 - 0.4 * a[6]) * (1 - 0.45 * a[7])
    eye_y = p["eye_y"] + 0.3 * p["eye_h"] * a[6]
    ex, ey = (ax - p["eye_dx"]) / p["eye_w"], (y - eye_y) / eye_h
    eye = _soft(np.sqrt(ex ** 2 + ey ** 2) - 1, edge / eye_h)
    image = _mix(image, np.clip(skin + 0.3, 0, 0.97), eye)
    iris_r = np.minimum(0.42 * p["eye_w"], 0.95 * eye_h)
    iris = _soft(np.sqrt((ax - p["eye_dx"]) ** 2 + (y - eye_y) ** 2) - iris_r, edge) * eye
    image = _mix(image, 0.08, iris)
    lid_curve = eye_y - eye_h * np.sqrt(np.clip(1 - ex ** 2, 0, 1))
    image = _mix(image, 0.12, _band(ax, y, p["eye_dx"], p["eye_w"] * 1.05, lid_curve, 0.008, edge))

    # Brows: inner and outer ends move with AU1 (inner up), AU2 (outer up), AU4 (down and together).
    inner_x = p["eye_dx"] - p["brow_len"] / 2 - 0.03 * a[4]
    outer_x = p["eye_dx"] + p["brow_len"] / 2
    base = p["eye_y"] - p["brow_gap"] + 0.035 * a[4]
    inner_y = base - 0.07 * a[1] + 0.035 * a[4] + 0.015 * a[9]
    outer_y = base - 0.06 * a[2] - 0.01 * a[1]
    t = np.clip((ax - inner_x) / (outer_x - inner_x), 0, 1)
    brow_curve = inner_y + (outer_y - inner_y) * t - 0.02 * np.sin(np.pi * t)
    brow = _band(ax, y, (inner_x + outer_x) / 2, (outer_x - inner_x) / 2, brow_curve, p["brow_t"], edge)
    image = _mix(image, p["brow_tone"], brow)
    # AU4 also creases the skin between the brows: two short vertical furrows.
    furrow = _soft(np.abs(ax - 0.035) - 0.006, edge) * _soft(np.abs(y - (base + 0.03)) - 0.045, edge)
    image = _mix(image, skin * 0.6, np.clip(a[4], 0, 1) * furrow)

    return image


def _draw_nose_and_mouth(image: np.ndarray, p: dict, a: dict, x: np.ndarray, y: np.ndarray, ax: np.ndarray,
                         edge: float) -> np.ndarray:
    skin = p["skin"]
    # Nose: side shadow lines and nostrils; AU9 adds wrinkles across the bridge and lifts the nostrils.
    nose_top, nose_tip = p["eye_y"] + 0.02, p["eye_y"] + 0.02 + p["nose_len"] - 0.03 * a[9]
    side = _soft(np.abs(ax - p["nose_w"] * 0.6) - 0.008, edge) * _soft(np.abs(y - (nose_top + nose_tip) / 2) - (nose_tip - nose_top) / 2, edge)
    image = _mix(image, skin * 0.78, 0.6 * side)
    nostril = _soft(np.sqrt(((ax - p["nose_w"] * (0.55 + 0.25 * a[9])) / 0.028) ** 2 + ((y - nose_tip) / 0.014) ** 2) - 1, edge * 30)
    image = _mix(image, skin * 0.45, nostril)
    wrinkles = sum(_band(ax, y, 0.0, 0.06, p["eye_y"] + 0.05 + 0.03 * k, 0.006, edge) for k in range(3))
    image = _mix(image, skin * 0.55, np.clip(a[9], 0, 1) * np.clip(wrinkles, 0, 1))

    # Mouth: corners move with AU12 (up, out), AU14 (one side up), AU15 (down), AU20 (out), AU23 (thin);
    # AU26 and AU16 open it, showing a dark interior.
    sign = np.sign(x)
    mouth_w = p["mouth_w"] * (1 + 0.25 * a[12] + 0.35 * a[20] - 0.15 * a[23])
    corner_y = p["mouth_y"] - 0.07 * a[12] + 0.065 * a[15] + 0.01 * a[20] - 0.06 * a[14] * (sign > 0)
    open_up = 0.025 * a[26] + 0.005 * a[16]
    open_down = 0.14 * a[26] + 0.05 * a[16] + 0.02 * a[20] * a[26]
    shape = np.clip(1 - (x / mouth_w) ** 2, 0, 1)
    upper = corner_y + (p["mouth_y"] - open_up - corner_y) * shape
    lower = corner_y + (p["mouth_y"] + open_down - corner_y) * shape
    inside = _soft(np.abs(x) - mouth_w, edge) * _soft(upper - y, edge) * _soft(y - lower, edge)
    image = _mix(image, 0.06, inside)
    lip_t = p["lip_t"] * (1 - 0.6 * a[23])
    lips = np.maximum(_band(x, y, 0, mouth_w, upper - lip_t * 0.6, lip_t, edge),
                      _band(x, y, 0, mouth_w, lower + lip_t * 0.6, lip_t * 1.2, edge))
    image = _mix(image, skin * 0.62, lips)

    return image


def _mix(under: np.ndarray, over: np.ndarray | float, coverage: np.ndarray) -> np.ndarray:
    return under * (1 - coverage) + over * coverage
