"""Judges: the built-in referees of a synthetic set, and the quality measures they give."""
