"""Making synthetic sets: fitting generator plugins (with presets and pretraining) and writing a set."""
