"""Every default a user can see, in one place (no imports: the CLI reads it without loading FFmpeg or torch).

The library's signatures, the command line's options and the demo take their defaults from here.
"""

# Short side (pixels) at which the network predicts chroma; full resolution is kept for lightness.
# DIS optical flow needs frames of at least 12 pixels, and the network multiples of 8.
WORK_SIZE = 256
MIN_WORK_SIZE = 16
# Frames decoded, coloured and encoded together (fewer for frames above 720p: see runner.frames_per_batch).
BATCH_SIZE = 8
# Network precision: "auto" is fp16 on a GPU, bf16 on a CPU with AMX or AVX512-BF16, fp32 on other CPUs.
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
# Video files picked up from a folder (training data, a batch's input folder).
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".ts", ".mpg", ".mpeg")

# Largest inputs accepted, so that memory is bounded by design: a file declaring more (a
# "decompression bomb": 600 KB of PNG that decode to 24000x24000) is refused from its header,
# before it is decoded. The command line raises both with --max-megapixels.
# Photos and references: ~100-Mpixel cameras and scans pass (a Fujifilm GFX100 takes 101.8 Mpixel).
MAX_PHOTO_PIXELS = 120_000_000
MAX_VIDEO_PIXELS = 7680 * 4320  # video frames: 8K UHD
# Colour is predicted at most this many times the work size along the long side: a panorama wider
# than 4:1 gets a smaller working size instead of a network run that grows with its width.
MAX_WORK_ASPECT = 4
# Pictures more than this many times as wide as high (or high as wide) are refused.
MAX_ASPECT_RATIO = 64

# The web demo: the longest clip it accepts, in seconds, and the work sizes its slider allows.
DEMO_MAX_SECONDS = 60.0
DEMO_WORK_SIZE_RANGE = (64, 1024)
# Its other limits: the largest upload, the longest a job may run (a clip is stopped there) and
# how many jobs may wait in line behind the running one. Pixels are limited as above.
DEMO_MAX_UPLOAD_MB = 200
DEMO_MAX_JOB_SECONDS = 600.0
DEMO_QUEUE_SIZE = 32

# Where the network runs: on adaptive keyframes ("auto": shot starts, reference switches, and
# wherever colour carried along the frame-to-frame flow stops being trusted) with the colour
# carried along the motion in between (vidcolor/keyframes.py), or on every frame ("every").
# auto is about 2x faster at 480p on 2 CPU cores (2.3x in session 16), as faithful and steadier
# (docs/keyframes.md).
KEYFRAMES = "auto"
KEYFRAME_MODES = ("every", "auto")
# auto: at most this many frames from one keyframe to the next (8 was 1.7-2.0% less faithful
# than `every` with a distant reference, at the bar: docs/keyframes.md),
KEYFRAME_MAX_INTERVAL = 4
# and a keyframe once more than this share of the frame's carried colour is untrusted.
KEYFRAME_UNTRUSTED_SHARE = 0.1
