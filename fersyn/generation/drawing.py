"""Drawing a synthetic set from fitted generators: identities sampled chunk by chunk, every emotion imposed on
each, kept where a judge's filter accepts them, until each emotion's quota is met; and the grid of samples."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from fersyn.data.synthetic import SyntheticWriter, balanced_counts
from fersyn.errors import FersynError
from fersyn.plugins.contracts import ExpressionGenerator, IdentityGenerator, checked_edits, checked_samples

log = logging.getLogger("fersyn")

_IDENTITY_CHUNK = 256  # identities sampled at a time: bounds memory whatever the count


_METRIC_SAMPLES = 2000


_GRID_IDENTITIES = 8


MAX_DRAWS = 20  # filtering draws at most this many times the identities an unfiltered set needs (or one chunk)


def write_faces(
    writer: SyntheticWriter,
    identity: IdentityGenerator,
    expression: ExpressionGenerator,
    emotions: Sequence[str],
    count: int,
    seed: int,
    keep: Callable[[np.ndarray, str], np.ndarray] | None = None,
) -> dict[str, Any]:
    """Sample identities chunk by chunk, impose every emotion on each, append those `keep` accepts (all
    without it) until each emotion's quota is met; returns a scoring sample of written faces, the first
    chunk's sources and edits, and with `keep` the acceptance per emotion."""
    identities = math.ceil(count / len(emotions))
    # Balanced by the rule a benchmark draws by: count // E faces each, count % E emotions (seeded) one more.
    quota = dict(zip(emotions, balanced_counts(count, len(emotions), np.random.default_rng(seed)).tolist()))
    written, drawn, accepted = dict.fromkeys(emotions, 0), dict.fromkeys(emotions, 0), dict.fromkeys(emotions, 0)
    per_emotion = max(1, _METRIC_SAMPLES // len(emotions))
    scored: dict[str, list[np.ndarray]] = {emotion: [] for emotion in emotions}
    first_chunk: dict[str, np.ndarray] = {}
    first, most = 0, MAX_DRAWS * max(identities, _IDENTITY_CHUNK)
    while any(written[e] < quota[e] for e in emotions):
        if first >= most:
            raise _unreachable(emotions, quota, written, drawn, accepted)
        # Filtered, the first chunk is what an unfiltered set needs, then full chunks until the quotas are met.
        chunk = min(_IDENTITY_CHUNK, identities - first) if keep is None or first < identities else _IDENTITY_CHUNK
        chunk_seed = int(np.random.SeedSequence([seed, first]).generate_state(1)[0])
        faces = checked_samples(identity, chunk, chunk_seed)
        ids = np.arange(first, first + chunk)
        edits = [checked_edits(expression, faces, [emotion] * chunk, chunk_seed) for emotion in emotions]
        if not first_chunk:
            first_chunk = {"sources": faces, "edits": np.stack(edits)}
        for emotion, edited in zip(emotions, edits):
            room = quota[emotion] - written[emotion]
            if room <= 0:
                continue
            kept = np.ones(chunk, bool) if keep is None else keep(edited, emotion)
            drawn[emotion] += chunk
            accepted[emotion] += int(kept.sum())
            writer.append(edited[kept][:room], emotion, ids[kept][:room])
            scored[emotion].append(edited[kept][:per_emotion - sum(map(len, scored[emotion]))])
            written[emotion] += min(room, int(kept.sum()))
        first += chunk
        if keep is not None and any(written[e] < quota[e] for e in emotions):
            _check_reachable(emotions, quota, written, drawn, accepted, most - first)
        log.info("generated %d / %d faces", len(writer), count)
    images = {e: np.concatenate(scored[e]) for e in emotions}
    sample = {"images": np.concatenate(list(images.values())),
              "emotions": np.repeat(list(emotions), [len(images[e]) for e in emotions]), **first_chunk}
    if keep is not None:
        sample["filter"] = {"acceptance_rate": {e: accepted[e] / max(1, drawn[e]) for e in emotions},
                            "drawn": drawn, "accepted": accepted}
    return sample


def _check_reachable(emotions: Sequence[str], quota: dict, written: dict, drawn: dict, accepted: dict, left: int) -> None:
    """Stop early, in one line, when even an optimistic acceptance rate for an emotion (the rule of three: 3 more
    accepted than seen, about its 95 % upper bound when none was) leaves its quota out of reach of the draws left."""
    for emotion in emotions:
        missing = quota[emotion] - written[emotion]
        optimistic = (accepted[emotion] + 3) / max(1, drawn[emotion])
        if missing > 0 and missing / optimistic > left:
            raise _unreachable([emotion], quota, written, drawn, accepted)


def _unreachable(emotions: Sequence[str], quota: dict, written: dict, drawn: dict, accepted: dict) -> FersynError:
    emotion = next(e for e in emotions if written[e] < quota[e])
    return FersynError(
        f"`filter_confidence` is unreachable: the judge accepted {accepted[emotion]} of {drawn[emotion]} {emotion} faces "
        f"({accepted[emotion] / max(1, drawn[emotion]):.1%}), too few for {quota[emotion]} within {MAX_DRAWS}× the "
        f"unfiltered draws (or {MAX_DRAWS} chunks of {_IDENTITY_CHUNK}); lower `filter_confidence` or `count`, or train the generators longer")


def save_grid(faces: np.ndarray, edits: np.ndarray, emotions: Sequence[str], path: Path) -> None:
    from fersyn.analysis.grid import save_face_grid

    rows = min(_GRID_IDENTITIES, len(faces))
    cells = np.concatenate([faces[:rows, None], edits[:, :rows].transpose(1, 0, 2, 3, 4)], axis=1)
    save_face_grid(cells, path, ["identity", *emotions], [f"#{i}" for i in range(rows)])
