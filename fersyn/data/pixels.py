"""Pixel scales, in one place. fersyn passes faces around as uint8 0..255; classifiers receive float32
in [0, 1]; tanh generators work in [-1, 1]. Each function takes a numpy array or a TensorFlow tensor
and returns the same kind."""

from __future__ import annotations

from typing import Any

import numpy as np


def to_unit_interval(images: Any) -> Any:
    """uint8 0..255 → float32 0..1 (what a classifier's model receives)."""
    return _as_float32(images) / 255.0


def from_unit_interval(images: Any) -> Any:
    """float 0..1 → uint8 0..255, rounded and clipped."""
    return _to_uint8(_as_float32(images) * 255.0)


def to_signed_unit(images: Any) -> Any:
    """uint8 0..255 → float32 -1..1 (what tanh generators produce)."""
    return _as_float32(images) / 127.5 - 1.0


def from_signed_unit(images: Any) -> Any:
    """float -1..1 → uint8 0..255, rounded and clipped."""
    return _to_uint8((_as_float32(images) + 1.0) * 127.5)


def _is_tensor(images: Any) -> bool:
    return type(images).__module__.startswith("tensorflow")


def _as_float32(images: Any) -> Any:
    if _is_tensor(images):
        import tensorflow as tf

        return tf.cast(images, tf.float32)
    return np.asarray(images, dtype=np.float32)


def _to_uint8(scaled: Any) -> Any:
    if _is_tensor(scaled):
        import tensorflow as tf

        return tf.cast(tf.round(tf.clip_by_value(scaled, 0.0, 255.0)), tf.uint8)
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)
