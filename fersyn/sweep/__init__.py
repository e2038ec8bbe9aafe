"""A sweep: its specification, its cells and their training streams, the runner, and its folder on disk."""
