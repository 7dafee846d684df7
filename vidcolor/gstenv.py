"""Where GStreamer finds the ``vidcolor`` element, and the system's PyGObject for a virtual environment.

GStreamer's Python plugin loader (Debian: gstreamer1.0-python3-plugin-loader) starts the Python
that ``python3`` on the PATH names, so with a virtual environment active it runs that
environment, which must then import ``gi`` (PyGObject with GStreamer's overrides). Debian ships
those for its own python3 only (python3-gi, python3-gst-1.0), and PyPI has no GStreamer
overrides, so :func:`link_system_gi` lets a venv import the system's ``gi`` (and nothing else
of the system's packages): a folder holding a link to it, named in a ``.pth`` file.
``vidcolor gst-path`` does that once and prints :data:`PLUGIN_FOLDER`.

Standard library only: the command line imports this without GStreamer or torch.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import sysconfig
from pathlib import Path

# The folder to put on GST_PLUGIN_PATH: GStreamer's Python loader reads its python/ subfolder.
PLUGIN_FOLDER = Path(__file__).resolve().parent / "gst"
# What link_system_gi writes into a virtual environment.
PTH_NAME = "vidcolor-system-gi.pth"
GI_FOLDER_NAME = "vidcolor-system-gi"


def _system_site_folders() -> list[Path]:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return [Path("/usr/lib/python3/dist-packages"), Path(f"/usr/lib/python{version}/site-packages"),
            Path(f"/usr/lib64/python{version}/site-packages"), Path(f"/usr/local/lib/python{version}/dist-packages")]


def system_gi_folder() -> Path | None:
    """The system's ``gi`` package folder when its compiled part fits this Python, else None."""
    for folder in _system_site_folders():
        gi = folder / "gi"
        if any((gi / f"_gi{suffix}").is_file() for suffix in importlib.machinery.EXTENSION_SUFFIXES):
            return gi
    return None


def gi_importable() -> bool:
    return importlib.util.find_spec("gi") is not None


def import_gi():
    """``import gi``, from the system's packages when this environment has none (nothing else of them is added)."""
    if gi_importable():
        import gi

        return gi
    folder = system_gi_folder()
    if folder is None:
        raise ImportError(
            f"PyGObject (gi) for Python {sys.version_info.major}.{sys.version_info.minor} is not installed: "
            "on Debian or Ubuntu, apt-get install python3-gi python3-gst-1.0"
        )
    spec = importlib.util.spec_from_file_location("gi", folder / "__init__.py", submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["gi"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules["gi"]
        raise
    return module


def link_system_gi() -> Path | None:
    """Let this virtual environment import the system's ``gi``; returns the ``.pth`` file written, else None.

    Nothing is written when ``gi`` is importable already or this Python is not a virtual
    environment's; ImportError when the system has no ``gi`` for this Python.
    """
    if gi_importable() or sys.prefix == sys.base_prefix:
        return None
    gi = system_gi_folder()
    if gi is None:
        import_gi()  # raises the ImportError that says what to install
    folder = Path(sys.prefix) / "lib" / GI_FOLDER_NAME
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "gi"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(gi, target_is_directory=True)
    pth = Path(sysconfig.get_paths()["purelib"]) / PTH_NAME
    pth.write_text(f"{folder}\n")
    importlib.invalidate_caches()
    return pth
