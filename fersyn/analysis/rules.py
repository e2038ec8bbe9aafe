"""The rules every number of a sweep is computed by: the significance level, power, margin and resampling
settings, and RULES, their statement in words (shown by `fersyn benchmark --help` and every table's caption).
Kept free of heavy imports, as the command line's help reads it."""

ALPHA = 0.05
POWER = 0.80
MARGIN = 0.01  # the equivalence margin δ of the bound, as a fraction (1 point)
RESAMPLES = 9999  # the first pass; more are drawn while a decision is within its Monte Carlo error of ALPHA
MAX_RESAMPLES = 99_999
BORDERLINE_Z = 3.0  # a decision is borderline while |p − ALPHA| < this × p's Monte Carlo standard error
REAL_ONLY_ARM = "real only"  # the arm every curve starts from (ratio 0)

RULES = (
    "Uncertainty: 95 % percentile intervals, unadjusted for multiple testing, from one hierarchical bootstrap: "
    "within each fold, test subjects (faces where no subject is known) and the fold's generator fits (each with "
    "the seeds that used it; the seeds themselves with one fit) are resampled, fits U − 1 of U; gains are paired "
    "on the same faces, models and folds. Differences between folds' training subjects are not resampled: the "
    "heterogeneity of gains between folds and between fits is reported with Cochran's Q. "
    "The gain of a ratio is its accuracy minus real-only's; its two-sided p-value comes from the same bootstrap "
    f"and is Holm-corrected within its curve (the family: that curve's ratios above 0; significant: corrected p < "
    f"{ALPHA:g}). A p-value with no resample on the other side of 0 is printed as '≤' its floor. Resamples are "
    f"drawn ({RESAMPLES} first, up to {MAX_RESAMPLES}) until no decision lies within {BORDERLINE_Z:g} Monte Carlo "
    "standard errors of the threshold; one that still does is 'borderline', neither significant nor not. "
    f"The minimum detectable effect is the gain found with {POWER:.0%} power after that correction: "
    "(z of alpha ÷ (2 × the number of ratios), Holm's strictest step, + z of the power) × the bootstrap standard "
    "error of a gain (median over ratios), as calibrated by benchmarks/calibrate_verdicts.py. "
    "The bound is the smallest ratio whose shortfall from the best ratio (the best chosen again in every resample) "
    "is shown to be below the margin: its one-sided bootstrap p-value for 'shortfall ≥ margin', Holm-corrected "
    f"over the curve's ratios, is below {ALPHA:g}. When no ratio is shown so, the bound is 'inconclusive'. The bound "
    "estimate (smallest ratio whose mean is within the margin of the best mean) is given with its bootstrap 95 % "
    "interval. A ratio above the best 'falls back' when its accuracy is shown below the best's (one-sided "
    "bootstrap p, Holm over the ratios above the best). The verdict says 'helps at ratio X; more falls back by Y' "
    "where larger ratios fall back, 'helps up to ratio X, then flat within the margin' where every larger ratio is "
    "shown within it ('up to at least X' when X is the largest ratio tried), 'helps up to ratio X' otherwise, "
    "'hurts at ratio(s) Y' where losses are, "
    "'no gain larger than the margin' when real only is the bound (with the largest loss its intervals still "
    "allow), and 'inconclusive' otherwise, with the largest effect its intervals still allow; each verdict that "
    "finds no gain gives the minimum detectable effect. Efficiency = a curve's gain ÷ "
    "the positive control's gain at the same ratio (real faces of unused training subjects)."
)
