"""Still-image files: read any common photo as RGB uint8 (its size checked first), write atomically."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from . import defaults
from .defaults import IMAGE_SUFFIXES
from .errors import TooLargeError, VidcolorError, megapixels
from .imagesize import image_size


def is_image_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def image_file_size(path: str | Path, max_pixels: int = defaults.MAX_PHOTO_PIXELS) -> tuple[int, int]:
    """``(width, height)`` of an image file from its header, refused (:class:`TooLargeError`) above
    ``max_pixels`` before anything is decoded."""
    path = Path(path)
    if not path.is_file():
        raise VidcolorError(f"{path}: no such file")
    try:
        size = image_size(path)
    except OSError as exc:
        raise VidcolorError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if size is None:
        raise VidcolorError(f"{path}: not a readable image")
    width, height = size
    if width * height > max_pixels:
        raise TooLargeError(
            f"{path}: the image is {width}x{height} pixels ({megapixels(width * height)} Mpixel), more than "
            f"the {megapixels(max_pixels)} Mpixel accepted"
        )
    return width, height


def read_image(path: str | Path, max_pixels: int = defaults.MAX_PHOTO_PIXELS) -> np.ndarray:
    """An image file -> RGB uint8 ``(h, w, 3)``; 16-bit is scaled down, alpha dropped, gray expanded.

    The size its header declares is checked first: over ``max_pixels`` it is refused
    (:class:`TooLargeError`) without being decoded, so a small file that decodes to gigabytes
    cannot exhaust memory. Besides the image itself only a uint8 copy of it is allocated.
    """
    image_file_size(path, max_pixels)
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise VidcolorError(f"{path}: not a readable image")
    if image.dtype == np.uint16:
        # Rounds like x / 257 + 0.5 truncated, without a float64 copy (8x the image).
        image = cv2.convertScaleAbs(image, alpha=1 / 257)
    elif image.dtype != np.uint8:
        raise VidcolorError(f"{path}: unsupported image sample type {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB, dst=image)  # in place: no second copy


def write_image(path: str | Path, rgb_uint8: np.ndarray) -> None:
    """Write an RGB uint8 image under a temporary name, then rename it into place."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial{path.suffix}")
    try:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(rgb_uint8, cv2.COLOR_RGB2BGR)):
            raise VidcolorError(f"{path}: could not write the image")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
