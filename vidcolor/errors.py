"""User-facing errors and warnings: the CLI prints their message as one line, no traceback."""


class VidcolorError(Exception):
    """A problem with the user's input or settings, explained in one line."""


class TooLargeError(VidcolorError):
    """An input over a size limit (see ``defaults.MAX_PHOTO_PIXELS``); the caller can raise the limit."""


def megapixels(pixels: int) -> str:
    """A pixel count in Mpixel for a message: 33177600 -> '33.18', 120000000 -> '120', 5000 -> '0.005'."""
    return f"{pixels / 1e6:.{2 if pixels >= 1e6 else 4}f}".rstrip("0").rstrip(".")


class ReferenceWarning(UserWarning):
    """The reference works but will give weak results (e.g. it is nearly colourless)."""
