"""Built-in classifiers: the paper's CNN and a ten-times-cheaper one for quick runs."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from fersyn.plugins.contracts import Classifier, option
from fersyn.plugins.registry import register_classifier

if TYPE_CHECKING:
    import keras


@dataclasses.dataclass
class PaperCNNOptions:
    dense_units: int = option(1024, "units of the dense layer before the output (the paper: 1024)")


@register_classifier("paper-cnn")
class PaperCNN(Classifier):
    """The VISAPP 2023 paper's CNN (4 conv, 1024 dense, dropout); ≈155 MFLOP/image at 48×48."""

    Options = PaperCNNOptions
    learning_rate = 1e-4
    mixed_precision = True

    def build_model(self, input_shape: tuple[int, int, int], num_classes: int) -> "keras.Model":
        from keras import Sequential, layers

        return Sequential(
            [
                layers.Input(input_shape),
                layers.Conv2D(32, 3, activation="relu"),
                layers.Conv2D(64, 3, activation="relu"),
                layers.MaxPooling2D(2),
                layers.Dropout(0.25),
                layers.Conv2D(128, 3, activation="relu"),
                layers.MaxPooling2D(2),
                layers.Conv2D(128, 3, activation="relu"),
                layers.MaxPooling2D(2),
                layers.Dropout(0.25),
                layers.Flatten(),
                layers.Dense(self.options.dense_units, activation="relu"),
                layers.Dropout(0.5),
                layers.Dense(num_classes, activation="softmax", dtype="float32"),  # float32 under a mixed policy
            ],
            name="paper_cnn",
        )


@dataclasses.dataclass
class SmallCNNOptions:
    width: int = option(16, "filters of the first conv block, doubled in each of the next two")
    dropout: float = option(0.3, "dropout rate before the dense layer")


@register_classifier("small-cnn")
class SmallCNN(Classifier):
    """A small CNN (3 conv blocks 16-32-64 with batch norm, dense 64); ≈ 1/14 of paper-cnn's FLOPs."""

    Options = SmallCNNOptions
    learning_rate = 1e-3
    # Mixed-safe (float32 softmax) but left in float32: measured no faster under mixed_bfloat16 here
    # (its time goes to batch norm and ReLU, slower in bfloat16 on this CPU), and 2.6 points less accurate
    # on CK+48 (benchmarks/results/precision-parity.json).
    mixed_precision = False

    def build_model(self, input_shape: tuple[int, int, int], num_classes: int) -> "keras.Model":
        from keras import Sequential, layers

        blocks = []
        for filters in (self.options.width, 2 * self.options.width, 4 * self.options.width):
            blocks += [
                layers.Conv2D(filters, 3, padding="same", use_bias=False),
                # Keras' default momentum (0.99) left a CK+-sized run at chance; 0.9 settles in time.
                layers.BatchNormalization(momentum=0.9),
                layers.ReLU(),
                layers.MaxPooling2D(2),
            ]
        return Sequential(
            # Flatten, not global pooling: where a feature sits (brow vs mouth) is what tells the emotion.
            [layers.Input(input_shape), *blocks, layers.Flatten(), layers.Dropout(self.options.dropout),
             layers.Dense(64, activation="relu"),
             layers.Dense(num_classes, activation="softmax", dtype="float32")],  # float32 under a mixed policy
            name="small_cnn",
        )
