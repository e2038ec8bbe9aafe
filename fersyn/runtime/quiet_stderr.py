"""Keep TensorFlow's native start-up chatter off the command line's stderr.

Lines such as `WARNING: All log messages before absl::InitializeLog() is called are written to STDERR`
and `I0000 00:00:… port.cc:153] oneDNN custom operations are on…` are written by native code to file
descriptor 2 before absl is initialised, so TF_CPP_MIN_LOG_LEVEL cannot stop them. The CLI points fd 2
at a pipe whose reader forwards every other line to the real stderr. The reader is a small separate
process rather than a thread: it needs no GIL (native code that writes while holding it cannot block
on a full pipe), and when native code aborts right after an `F` line, that line still gets through.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Callable

_NOISE = re.compile(
    rb"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR\s*$"
    rb"|[IW]\d{4} [\d:.]+\s+\d+ [^\s\]]+:\d+\] "  # absl INFO and WARNING lines; E and F pass
    rb"|E\d{4} [\d:.]+\s+\d+ cuda_platform\.cc:\d+\] failed call to cuInit"  # no GPU: not an error for fersyn
    # A graph optimisation (grappler) that could not rewrite a graph leaves it as it was: training goes on.
    rb"|E\d{4} [\d:.]+\s+\d+ meta_optimizer\.cc:\d+\] \w+ failed: "
)
# The second line of cpu_feature_guard's two-line INFO message.
_CONTINUED = re.compile(rb"To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler")


def is_noise(line: bytes, after_noise: bool = False) -> bool:
    """Whether `line` is TensorFlow start-up noise (`after_noise`: the line before it was)."""
    return bool(_NOISE.match(line) or (after_noise and _CONTINUED.match(line)))


def forward(source: int = 0, target: int = 1) -> None:
    """Copy lines from fd `source` to fd `target` until end of file, leaving out the noise."""
    after_noise = False
    with os.fdopen(source, "rb") as lines:
        for line in lines:
            after_noise = is_noise(line, after_noise)
            if not after_noise:
                os.write(target, line)


def filter_native_stderr() -> Callable[[], None]:
    """Filter fd 2 through a forwarding process, if `sys.stderr` writes to fd 2 (not under a test runner
    that swapped it). Returns the function that restores fd 2 and waits until every line is through; it
    is also registered with atexit, and does nothing the second time."""
    import atexit
    import subprocess

    try:
        if sys.stderr is None or sys.stderr.fileno() != 2:
            return lambda: None
    except (AttributeError, ValueError, OSError):  # io.UnsupportedOperation is an OSError and a ValueError
        return lambda: None
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # above fersyn/
    code = f"import sys; sys.path.insert(0, {package_root!r}); from fersyn.runtime.quiet_stderr import forward; forward()"
    sys.stderr.flush()
    try:
        reader = subprocess.Popen([sys.executable, "-I", "-S", "-c", code], stdin=subprocess.PIPE, stdout=2,
                                  start_new_session=True)  # Ctrl-C stops fersyn, not the reader: it drains to the end
    except OSError:
        return lambda: None
    saved = os.dup(2)
    os.dup2(reader.stdin.fileno(), 2)
    reader.stdin.close()  # fd 2 is now the pipe's only writer here: the reader ends when it is restored

    def restore() -> None:
        nonlocal saved
        if saved is None:
            return
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(saved, 2)
        os.close(saved)
        saved = None
        try:
            reader.wait(timeout=10)  # longer only if a child process still holds the pipe
        except subprocess.TimeoutExpired:
            pass

    atexit.register(restore)
    return restore
