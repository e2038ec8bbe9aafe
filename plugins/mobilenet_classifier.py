"""An example classifier plugin wrapping a `keras.applications` network: any Keras model can be
benchmarked. MobileNetV3Small, untrained (`weights=None`: nothing is downloaded), taking fersyn's
grayscale faces (one input channel, inputs already scaled to [0, 1]: no preprocessing of its own),
enlarged `upscale` times first (the network shrinks its input 32-fold), with batch-norm statistics
that follow a short training (momentum 0.9, not ImageNet's 0.999, with which validation predictions
stay at chance for the first few hundred steps). See docs/plugins.md, section 4.

    fersyn --plugins-dir plugins/ plugins --kind classifier
    fersyn --plugins-dir plugins/ benchmark --classifier mobilenet-v3-small --ratio 0 --seeds 1
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from fersyn.plugins.contracts import Classifier, option
from fersyn.plugins.registry import register_classifier

if TYPE_CHECKING:
    import keras


@dataclasses.dataclass
class MobileNetOptions:
    alpha: float = option(0.5, "width multiplier of MobileNetV3 (1.0: the published network)")
    minimalistic: bool = option(True, "MobileNetV3's minimalistic variant (no squeeze-excite, no hard-swish)")
    upscale: int = option(2, "enlarge the faces this many times first: the network shrinks its input 32-fold")
    bn_momentum: float = option(0.9, "batch-norm momentum (ImageNet's 0.999 lags far behind a short training)")


@register_classifier("mobilenet-v3-small")
class MobileNetV3Small(Classifier):
    """keras.applications MobileNetV3Small (untrained, 1 input channel) with a softmax head."""

    Options = MobileNetOptions
    learning_rate = 1e-3
    batch_size = 32

    def build_model(self, input_shape: tuple[int, int, int], num_classes: int) -> "keras.Model":
        import keras

        size = input_shape[0] * self.options.upscale
        backbone = keras.applications.MobileNetV3Small(
            input_shape=(size, size, input_shape[2]), include_top=False, weights=None, pooling="avg",
            alpha=self.options.alpha, minimalistic=self.options.minimalistic,
            include_preprocessing=False,  # fersyn feeds [0, 1] already
        )
        for layer in backbone.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = self.options.bn_momentum
        return keras.Sequential([keras.Input(input_shape), keras.layers.Resizing(size, size), backbone,
                                 keras.layers.Dense(num_classes, activation="softmax")], name="mobilenet_v3_small")
