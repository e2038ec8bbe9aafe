"""The arms of a sweep as its tables and summaries name them: the curve each kind of training draws."""

from fersyn.sweep.spec import REAL_PLUS_AUGMENTED, REAL_PLUS_REAL, REAL_PLUS_SYNTHETIC

# The curve each kind of training draws, and how tables name it.
CURVES = {REAL_PLUS_SYNTHETIC: "synthetic", REAL_PLUS_AUGMENTED: "augmented", REAL_PLUS_REAL: "unused real"}
SYNTHETIC_ONLY_ARM = "synthetic only"
POSITIVE_CONTROL = CURVES[REAL_PLUS_REAL]
