"""User-facing errors and warnings: the CLI prints their message as one line, no traceback."""


class VidcolorError(Exception):
    """A problem with the user's input or settings, explained in one line."""


class ReferenceWarning(UserWarning):
    """The reference works but will give weak results (e.g. it is nearly colourless)."""
