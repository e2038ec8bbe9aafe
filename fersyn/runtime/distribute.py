"""Training on several devices or machines with TensorFlow's own `tf.distribute`, invisible to
plugins that build plain Keras models.

`generate` and `benchmark` run every plugin's `fit` (and a classifier's `build_model`, compile and
training) inside `strategy.scope()`: variables are mirrored, `model.fit` splits each global batch
across the replicas and sums their gradients. A plugin that writes its own `train_step` needs two
things, both no-ops on one device: `per_replica_loss` on each loss it differentiates (gradients are
summed over replicas, so each replica's mean loss is divided by their number), and `replica_share`
for its random draws (every replica's seed generator is in step, so each draws for the global batch
and keeps its own slice: replicas get different noise, and a mirrored run draws what a one-device run
draws). Plugins that want the strategy itself call `tf.distribute.get_strategy()`.

Strategies:
- `default`: no distribution (TensorFlow's default strategy).
- `mirrored`: `MirroredStrategy` over every local GPU, or, without GPUs, over the logical CPU devices
  (useful only where the CPU was split into several, as the tests do).
- `multiworker`: `MultiWorkerMirroredStrategy` over the workers that the `TF_CONFIG` environment
  variable describes; every worker runs the same command, only the chief (worker 0) writes files.

`distributed(strategy)` is the scope fersyn trains in. Under `multiworker` it also works around
Keras 3's `fit` under that strategy (keras-team/keras#20585, open for Keras 3.15): `fit` reduces
the first input batch across workers to build the model, and reduces each scalar step log along
axis 0; both raise. While fersyn trains, the model is built from this worker's own batch and scalar
logs are averaged across workers whole. Nothing changes under the other strategies.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from fersyn.errors import FersynError

if TYPE_CHECKING:
    import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multiworker")


def make_strategy(name: "str | tf.distribute.Strategy") -> "tf.distribute.Strategy":
    """The strategy called `name` (see the module doc; a strategy passed in is returned as it is);
    a clear error where it cannot run here."""
    import tensorflow as tf

    if isinstance(name, tf.distribute.Strategy):
        return name
    if name not in STRATEGIES:
        raise FersynError(f"`strategy` {name}: unknown (known: {', '.join(STRATEGIES)})")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "multiworker":
        if not os.environ.get("TF_CONFIG"):
            raise FersynError("`strategy` multiworker needs the TF_CONFIG environment variable describing the "
                              "workers on every worker (see docs/scale.md)")
        try:
            json.loads(os.environ["TF_CONFIG"])
        except ValueError as error:
            raise FersynError(f"TF_CONFIG is not valid JSON ({error})") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    if tf.config.list_logical_devices("GPU"):
        return tf.distribute.MirroredStrategy()
    cpus = [device.name for device in tf.config.list_logical_devices("CPU")]
    # NCCL, the default all-reduce, needs GPUs; on CPU devices reduce through one of them.
    return tf.distribute.MirroredStrategy(cpus, cross_device_ops=tf.distribute.ReductionToOneDevice())


@contextlib.contextmanager
def distributed(strategy: "tf.distribute.Strategy") -> Iterator[None]:
    """`strategy.scope()`, with the Keras fixes of the module doc under a multi-worker strategy."""
    import tensorflow as tf

    with strategy.scope():
        if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            yield
            return
        from keras.src.backend.tensorflow import trainer

        original_build, original_reduce = trainer.TensorFlowTrainer._maybe_symbolic_build, trainer.reduce_per_replica
        trainer.TensorFlowTrainer._maybe_symbolic_build = _build_from_local_batch
        trainer.reduce_per_replica = _reduce_scalars_whole(original_reduce)
        try:
            yield
        finally:
            trainer.TensorFlowTrainer._maybe_symbolic_build = original_build
            trainer.reduce_per_replica = original_reduce


def _build_from_local_batch(model, iterator=None, data_batch=None) -> None:
    import tensorflow as tf
    from keras import tree

    if model._distribute_strategy is None:  # as Keras: built when the step is traced
        return
    strategy = model.distribute_strategy
    if iterator is not None:
        for _, _, batches in iterator:
            data_batch = tree.map_structure(
                lambda value: strategy.experimental_local_results(value)[0]
                if isinstance(value, tf.distribute.DistributedValues) else value, next(batches))
            break
    with strategy.scope():
        model._symbolic_build(data_batch=data_batch)


def _reduce_scalars_whole(original: Callable) -> Callable:
    def reduce_per_replica(values, strategy, reduction):
        import tensorflow as tf
        from keras import tree

        def reduce(value):
            local = strategy.experimental_local_results(value)[0] \
                if isinstance(value, tf.distribute.DistributedValues) else value
            if reduction in ("auto", "mean") and getattr(local, "shape", None) is not None and local.shape.rank == 0:
                return strategy.reduce("MEAN", value, axis=None)
            return original(value, strategy, reduction)

        return tree.map_structure(reduce, values)

    return reduce_per_replica


def describe(strategy: "str | tf.distribute.Strategy", made: "tf.distribute.Strategy") -> dict[str, object]:
    """How a run was distributed, for provenance: the strategy's name and its replica count."""
    name = strategy if isinstance(strategy, str) else type(strategy).__name__
    return {"name": name, "replicas": made.num_replicas_in_sync}


def replicas() -> int:
    """How many replicas share each global batch in the current context (1 without a strategy)."""
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def is_chief(strategy: "tf.distribute.Strategy | None" = None) -> bool:
    """Whether this process writes the outputs under `strategy` (default: the current one): always,
    except on the workers other than the chief of a multi-worker run."""
    import tensorflow as tf

    resolver = getattr(strategy or tf.distribute.get_strategy(), "cluster_resolver", None)
    if resolver is None or resolver.task_type in (None, "chief"):
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().jobs


def per_replica_loss(loss: "tf.Tensor") -> "tf.Tensor":
    """`loss` (a mean over this replica's part of the batch) divided by the number of replicas, so
    that the gradients summed over replicas are those of the mean over the global batch."""
    count = replicas()
    return loss if count == 1 else loss / count


def replica_share(draw: Callable[["tf.Tensor"], "tf.Tensor"], n: "tf.Tensor") -> "tf.Tensor":
    """This replica's `n` rows of `draw(n × replicas)` (a random draw for the global batch)."""
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return draw(n)
    index = context.replica_id_in_sync_group
    return draw(n * context.num_replicas_in_sync)[index * n:(index + 1) * n]


@contextlib.contextmanager
def output_of_this_worker(path: Path, strategy: "tf.distribute.Strategy") -> Iterator[Path]:
    """`path` on the chief; on another worker, a path of the same name in a scratch folder deleted
    afterwards (every worker computes the same; one writes)."""
    if is_chief(strategy):
        yield path
        return
    scratch = Path(tempfile.mkdtemp(prefix="fersyn-worker-"))
    try:
        yield scratch / path.name
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
