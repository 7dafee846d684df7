"""GStreamer's Python plugin loader reads this file and registers the ``vidcolor`` element.

    export GST_PLUGIN_PATH=$(vidcolor gst-path)     # the folder above this one
    gst-inspect-1.0 vidcolor

The loader runs the Python that ``python3`` on the PATH names. With the virtual environment
vidcolor is installed in active, that is the environment's own Python (``vidcolor gst-path``
lets it import the system's PyGObject), and vidcolor imports as it is. Otherwise it is the
system's Python, and vidcolor's environment is added to it here, found from (in this order)
VIRTUAL_ENV, the site-packages folder this file is installed in, or a ``.venv`` beside the
checkout this file is in (an editable install). Only ``vidcolor.gst`` is imported: the element
loads torch when it starts, and reports on the bus if it cannot.
"""

from __future__ import annotations

import os
import site
import sys
from pathlib import Path

# vidcolor/gst/python/vidcolor_gst.py -> the folder holding the vidcolor package.
_PACKAGE_PARENT = Path(__file__).resolve().parents[3]


def _site_packages(prefix: Path) -> list[Path]:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return [folder for folder in (prefix / "lib" / version / "site-packages",) if folder.is_dir()]


def _environments() -> list[Path]:
    """Site-packages folders that may hold vidcolor and its dependencies, the likeliest first."""
    found = []
    if os.environ.get("VIRTUAL_ENV"):
        found += _site_packages(Path(os.environ["VIRTUAL_ENV"]))
    if _PACKAGE_PARENT.name in ("site-packages", "dist-packages"):
        found.append(_PACKAGE_PARENT)
    found += _site_packages(_PACKAGE_PARENT / ".venv")
    return found


def _add_environment(folder: Path) -> None:
    """Put a site-packages folder (and what its .pth files add) ahead of the system's packages."""
    before = list(sys.path)
    site.addsitedir(str(folder))
    added = [entry for entry in sys.path if entry not in before]
    sys.path[:] = added + before


def _environment_has_vidcolor() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("vidcolor") is not None and importlib.util.find_spec("numpy") is not None
    except (ImportError, ValueError):
        return False


if not _environment_has_vidcolor():
    for _folder in _environments():
        _add_environment(_folder)
        if _environment_has_vidcolor():
            break
    else:
        # No environment found: the element still registers (so GStreamer's registry keeps it)
        # from the checkout or install this file is in, and says what is missing when it starts.
        sys.path.insert(0, str(_PACKAGE_PARENT))

from gi.repository import Gst  # noqa: E402
from vidcolor.gst import VidcolorElement  # noqa: E402

__gstelementfactory__ = ("vidcolor", Gst.Rank.NONE, VidcolorElement)
