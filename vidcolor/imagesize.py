"""An image file's pixel size read from its header, without decoding it.

A few hundred bytes of a compressed file can declare billions of pixels (a "decompression bomb":
a 600 KB PNG of 24000x24000 zeros decodes to 1.7 GB), so :func:`vidcolor.images.read_image`
reads the declared size first and refuses what is over its limit before a decoder allocates it.

Handled by content, whatever the file is named: PNG, JPEG, TIFF (and BigTIFF), WebP, BMP, plus
GIF and PNM whose headers are as simple. Standard library only: Pillow reads these headers too,
but ``Image.open`` applies its own process-wide bomb limit (a warning from 89 Mpixel, an error
from 179), which would warn about legitimate 100-Mpixel scans and override a raised limit.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

# JPEG start-of-frame markers (baseline, extended, progressive, lossless; Huffman or arithmetic).
_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
# Markers without a length field: TEM, RSTn, SOI.
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})
# Segments scanned for the frame header before giving up (real files have a few dozen before it).
_JPEG_MAX_SEGMENTS = 1000
# TIFF directory entries read at most (real first directories have a few dozen).
_TIFF_MAX_ENTRIES = 4096
_TIFF_WIDTH, _TIFF_LENGTH = 256, 257


def image_size(path: str | Path) -> tuple[int, int] | None:
    """``(width, height)`` that the file's header declares, or None if it is not a format read here
    (or its header is cut short). Raises OSError if the file cannot be read."""
    with open(path, "rb") as file:
        head = file.read(32)
        try:
            if head.startswith(b"\x89PNG\r\n\x1a\n"):
                return _png(head)
            if head.startswith(b"\xff\xd8"):
                return _jpeg(file)
            if head[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"):
                return _tiff(file, head)
            if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
                return _webp(head)
            if head.startswith(b"BM"):
                return _bmp(head)
            if head[:6] in (b"GIF87a", b"GIF89a"):
                return struct.unpack("<HH", head[6:10])
            if len(head) > 2 and head[0:1] == b"P" and head[1:2] in b"123456" and head[2:3].isspace():
                return _pnm(file)
        except struct.error:  # a field beyond the end of the file
            return None
    return None


def _png(head: bytes) -> tuple[int, int] | None:
    # The signature, then the IHDR chunk: length, type, width, height (big-endian).
    if head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def _jpeg(file: BinaryIO) -> tuple[int, int] | None:
    """The size in the first frame header (SOFn), walking the segments after SOI."""
    file.seek(2)
    for _ in range(_JPEG_MAX_SEGMENTS):
        byte = file.read(1)
        if byte != b"\xff":
            return None
        marker = file.read(1)
        while marker == b"\xff":  # fill bytes before a marker
            marker = file.read(1)
        if not marker:
            return None
        code = marker[0]
        if code in _JPEG_STANDALONE:
            continue
        if code in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            return None
        (length,) = struct.unpack(">H", file.read(2))
        if code in _JPEG_SOF:
            _precision, height, width = struct.unpack(">BHH", file.read(5))
            return width, height
        if length < 2:
            return None
        file.seek(length - 2, 1)
    return None


def _tiff(file: BinaryIO, head: bytes) -> tuple[int, int] | None:
    """ImageWidth and ImageLength of the first directory (the page OpenCV reads)."""
    order = "<" if head[:2] == b"II" else ">"
    big = head[2:4] in (b"+\0", b"\0+")
    if big:  # BigTIFF: 8-byte offsets and counts, 20-byte entries
        (offset,) = struct.unpack(order + "Q", head[8:16])
        count_format, entry_format, entry_size = "Q", "HHQ8s", 20
    else:
        (offset,) = struct.unpack(order + "I", head[4:8])
        count_format, entry_format, entry_size = "H", "HHI4s", 12
    file.seek(offset)
    count_size = struct.calcsize(count_format)
    (count,) = struct.unpack(order + count_format, file.read(count_size))
    entries = file.read(min(count, _TIFF_MAX_ENTRIES) * entry_size)
    size = {}
    for start in range(0, len(entries) - entry_size + 1, entry_size):
        tag, kind, _count, value = struct.unpack(order + entry_format, entries[start : start + entry_size])
        if tag in (_TIFF_WIDTH, _TIFF_LENGTH):
            # SHORT, LONG or LONG8, stored left-justified in the value field.
            value_format = {3: "H", 4: "I", 16: "Q"}.get(kind)
            if value_format is None:
                return None
            size[tag] = struct.unpack_from(order + value_format, value)[0]
    if len(size) < 2:
        return None
    return size[_TIFF_WIDTH], size[_TIFF_LENGTH]


def _webp(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8 ":  # lossy: 14-bit sizes after the frame tag and the start code
        if head[23:26] != b"\x9d\x01\x2a":
            return None
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":  # lossless: a signature byte, then 14-bit sizes minus one
        (bits,) = struct.unpack("<I", head[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":  # extended: 24-bit canvas sizes minus one
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return width, height
    return None


def _bmp(head: bytes) -> tuple[int, int] | None:
    (header_size,) = struct.unpack("<I", head[14:18])
    if header_size == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        return struct.unpack("<HH", head[18:22])
    width, height = struct.unpack("<ii", head[18:26])
    return abs(width), abs(height)  # a negative height is a top-down image


def _pnm(file: BinaryIO) -> tuple[int, int] | None:
    """Netpbm (P1-P6): the magic number, then width and height as text, comments allowed."""
    file.seek(2)
    text = file.read(1024).decode("ascii", errors="replace")
    words = [line.split("#", 1)[0] for line in text.splitlines()]
    numbers = " ".join(words).split()
    if len(numbers) < 2 or not (numbers[0].isdigit() and numbers[1].isdigit()):
        return None
    return int(numbers[0]), int(numbers[1])
