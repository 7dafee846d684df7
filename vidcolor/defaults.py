"""Every default a user can see, in one place (no imports: the CLI reads it without loading FFmpeg or torch).

The library's signatures, the command line's options and the demo take their defaults from here.
"""

# Short side (pixels) at which the network predicts chroma; full resolution is kept for lightness.
# DIS optical flow needs frames of at least 12 pixels, and the network multiples of 8.
WORK_SIZE = 256
MIN_WORK_SIZE = 16
# Frames decoded, coloured and encoded together (fewer for frames above 720p: see runner.frames_per_batch).
BATCH_SIZE = 8
# Network precision: "auto" is fp16 on a GPU, bf16 on a CPU with AMX, fp32 on other CPUs.
PRECISION = "auto"
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
# Temporal chroma smoothing along optical flow ("flow") or none ("off").
TEMPORAL = "flow"
TEMPORAL_MODES = ("flow", "off")

# Video encoding.
CODEC = "libx264"
CRF = 18
PRESET = "medium"
PIX_FMT = "yuv420p"
# Containers that can be written to stdout or a URL (they need no seekable output).
STREAM_FORMATS = ("mpegts", "matroska", "nut")
# How long a network peer may take to connect or stay silent, in seconds.
NETWORK_TIMEOUT_S = 10.0
# Segment length of a resumable file output: an interruption loses at most this much work, and a
# keyframe every 30 s costs nothing (x264 puts one every ~10 s anyway).
SEGMENT_SECONDS = 30.0

# Still-image files read and written as photos and references.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp")

# The web demo: the longest clip it accepts, in seconds, and the work sizes its slider allows.
DEMO_MAX_SECONDS = 60.0
DEMO_WORK_SIZE_RANGE = (64, 1024)
