"""vidcolor: colour black-and-white video and photos from a colour reference image.

    from vidcolor import Colorizer
    colorizer = Colorizer.from_pretrained()
    colorizer.set_reference(reference_rgb_uint8)
    rgb_uint8 = colorizer.colorize(gray_frames)
"""

from .colorizer import Colorizer
from .errors import ReferenceWarning, VidcolorError

__all__ = ["Colorizer", "ReferenceWarning", "VidcolorError"]
__version__ = "0.1.0"
