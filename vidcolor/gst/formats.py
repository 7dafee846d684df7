"""The raw video formats the element takes and gives (standard library only: read to build its caps)."""

# 8-bit formats whose first plane is the luma (the chroma planes are not read).
LUMA_FORMATS = ("GRAY8", "I420", "YV12", "NV12", "NV21", "Y41B", "Y42B", "Y444")
# Packed RGB formats: bytes per pixel and the byte offsets of R, G and B in a pixel.
RGB_FORMATS = {
    "RGB": (3, (0, 1, 2)), "BGR": (3, (2, 1, 0)),
    "RGBx": (4, (0, 1, 2)), "BGRx": (4, (2, 1, 0)), "xRGB": (4, (1, 2, 3)), "xBGR": (4, (3, 2, 1)),
    "RGBA": (4, (0, 1, 2)), "BGRA": (4, (2, 1, 0)), "ARGB": (4, (1, 2, 3)), "ABGR": (4, (3, 2, 1)),
}
INPUT_FORMATS = (*LUMA_FORMATS, *RGB_FORMATS)
# The first is what a downstream element that takes any of them gets.
OUTPUT_FORMATS = ("RGB", "RGBx", "I420")

# Luma and blue weights (Kr, Kb) of the YCbCr matrices of a YUV output, by GStreamer's matrix name.
MATRICES = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722), "bt2020": (0.2627, 0.0593),
            "smpte240m": (0.212, 0.087), "fcc": (0.30, 0.11)}
