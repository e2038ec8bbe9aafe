"""Plugins: the contract a plugin meets, its options, and the registry that finds every plugin."""
