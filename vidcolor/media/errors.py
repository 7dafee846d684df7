"""What the media layer raises and warns: one-line messages about a named file, pipe or URL.

Everything that fails for a bad file, an unsupported format or a failed write is a
:class:`MediaError` whose message is one user-facing line; :func:`media_errors` turns the
PyAV and OS exceptions raised inside a block into one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import av

from ..errors import TooLargeError
from .targets import StrPath, display_name


class MediaError(Exception):
    """A media file could not be opened, decoded or written; the message is one line."""


class FrameTooLargeError(MediaError, TooLargeError):
    """The video's frames have more pixels than the limit the input was opened with."""


class MediaWarning(UserWarning):
    """The output differs from what was asked for (codec, pixel format, dropped stream)."""


def describe_av_error(error: BaseException) -> str:
    """The reason a PyAV or OS error gives, as a few words fit to follow a colon."""
    if isinstance(error, FileNotFoundError):
        return "no such file"
    if isinstance(error, IsADirectoryError):
        return "is a directory, not a media file"
    if isinstance(error, PermissionError):
        return "permission denied"
    reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return reason.rstrip(".")


@contextlib.contextmanager
def media_errors(path: StrPath, doing: str) -> Iterator[None]:
    """Turn PyAV/OS failures inside the block into a one-line MediaError about ``path``."""
    try:
        yield
    except MediaError:
        raise
    except (av.error.FFmpegError, OSError) as error:
        raise MediaError(f"{display_name(path)}: {doing}: {describe_av_error(error)}") from error
