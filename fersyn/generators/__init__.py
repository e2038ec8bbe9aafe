"""Built-in generators: `dcgan` (identity) and `stargan` (expression), and what they share."""
