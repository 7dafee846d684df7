"""Still-image files: read any common photo as RGB uint8, write atomically."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from .defaults import IMAGE_SUFFIXES
from .errors import VidcolorError


def is_image_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def read_image(path: str | Path) -> np.ndarray:
    """An image file -> RGB uint8 ``(h, w, 3)``; 16-bit is scaled down, alpha dropped, gray expanded."""
    path = Path(path)
    if not path.is_file():
        raise VidcolorError(f"{path}: no such file")
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise VidcolorError(f"{path}: not a readable image")
    if image.dtype == np.uint16:
        image = (image / 257.0 + 0.5).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise VidcolorError(f"{path}: unsupported image sample type {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


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
