"""fersyn: how far can GAN-generated facial-expression data help a CNN recognise emotions on real faces?

Kept import-light on purpose: TensorFlow and Keras are imported only by the code that trains or runs
a model, so that ``fersyn --help`` and ``fersyn data info`` start fast.
"""

import os

__version__ = "0.2.0"

# TensorFlow's C++ start-up chatter (CUDA probes, CPU-feature notes) hides fersyn's own output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fersyn.errors import FersynError  # noqa: E402  (public: the one exception users catch)

__all__ = ["FersynError", "__version__"]
