"""Built-in classifiers and the one training protocol every classifier is measured with."""
