"""How long work has left, as progress lines show it."""


def format_duration(seconds: float) -> str:
    """`125.3` → `2m05s`."""
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s"
