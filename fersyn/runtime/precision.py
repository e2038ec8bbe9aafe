"""Numeric precision of training: `float32`, or `mixed` (Keras' mixed-precision policies).

`mixed` computes in 16 bits and keeps variables in float32: `mixed_bfloat16` on CPUs with native
bfloat16 (the `avx512_bf16` or `amx_bf16` flags) and on GPUs of compute capability 8.0 or more
(bfloat16 has float32's range, so it needs no loss scaling), `mixed_float16` with loss scaling on
GPUs of capability 7.x. Where neither is there, `mixed` falls back to float32, since emulated 16-bit
arithmetic is slower than float32; `fallback_note` says so for the run's record and its printed
results, never on stderr, where a refusal must stay one line. `FERSYN_ASSUME_NO_BF16=1` makes any
machine take that path, so that a machine with native bfloat16 can test what the others see.

A plugin opts in with the class attribute `mixed_precision = True` once it follows the rules in
`fersyn.plugins.contracts` (float32 output layers; `optimizer.scale_loss` in a custom `train_step`);
`generate` and `benchmark` then build its models inside `precision_scope`. Every other plugin is
built and trained in float32, as before: a plugin written without mixed precision in mind never
breaks, it only runs at float32 speed.
"""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path
from typing import Iterator

from fersyn.errors import FersynError

PRECISIONS = ("float32", "mixed")
DEFAULT_PRECISION = "mixed"
PRECISION_HELP = ("mixed: plugins that opt in (paper-cnn, dcgan, stargan) compute in bfloat16 (CPUs with native bfloat16, "
                  "recent GPUs) or float16 (older GPUs) on float32 variables; paper-cnn trains 1.9× faster, the GANs "
                  "1.1–1.3×. float32 where the machine has neither. Recorded with every result.")
_CPU_BFLOAT16_FLAGS = {"avx512_bf16", "amx_bf16"}
ASSUME_NO_BF16 = "FERSYN_ASSUME_NO_BF16"  # =1: act as a machine with no native 16-bit arithmetic


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: no way to tell without measuring, so no claim of native bfloat16
        return set()
    return {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":", 1)[1].split()}


def mixed_policy() -> str | None:
    """The mixed policy this machine runs natively (see the module doc), or None (also under
    FERSYN_ASSUME_NO_BF16=1)."""
    return None if os.environ.get(ASSUME_NO_BF16) == "1" else _native_mixed_policy()


def cpu_has_native_bfloat16() -> bool:
    """Whether this CPU's flags name native bfloat16: the hardware, whatever FERSYN_ASSUME_NO_BF16 says."""
    return bool(_cpu_flags() & _CPU_BFLOAT16_FLAGS)


@functools.lru_cache(maxsize=1)
def _native_mixed_policy() -> str | None:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:  # fersyn trains on the GPUs: the weakest decides
        capability = min(tuple(tf.config.experimental.get_device_details(gpu).get("compute_capability") or (0, 0))
                         for gpu in gpus)
        return "mixed_bfloat16" if capability >= (8, 0) else "mixed_float16" if capability >= (7, 0) else None
    return "mixed_bfloat16" if cpu_has_native_bfloat16() else None


def resolve_precision(precision: str) -> str:
    """The Keras dtype policy that `precision` (float32 or mixed) means on this machine."""
    if precision not in PRECISIONS:
        raise FersynError(f"`precision` {precision}: unknown (known: {', '.join(PRECISIONS)})")
    if precision == "float32":
        return "float32"
    return mixed_policy() or "float32"


def fallback_note(precision: str, policy: str) -> str | None:
    """The note a run's record and printed results carry when `mixed` fell back to float32 here."""
    if precision == "mixed" and policy == "float32":
        return ("precision mixed ran in float32 here (no native 16-bit arithmetic, or "
                f"{ASSUME_NO_BF16}=1): these are the results of a float32 run, not a bfloat16 one")
    return None


def policy_for(plugin: type, policy: str) -> str:
    """The policy that `plugin` (a plugin class) is built under when the run asks for `policy`."""
    return policy if getattr(plugin, "mixed_precision", False) else "float32"


@contextlib.contextmanager
def precision_scope(policy: str) -> Iterator[None]:
    """Models built inside this scope compute under the Keras dtype policy `policy`."""
    import keras

    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)
