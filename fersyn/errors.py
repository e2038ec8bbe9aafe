"""The one exception type for problems a user can fix; the CLI prints it as a single line."""


class FersynError(Exception):
    """A problem with the user's input or environment, with a message saying what to do."""
