"""The import layering: data flows one way (decode -> colour -> encode) and no module imports a higher one.

Read from the source with ``ast`` (every import statement counts, also one inside a function),
so the check needs no install: ``vidcolor.models`` and ``vidcolor.training`` live in the
top-level folders ``models/`` and ``training/``, where import-graph tools that walk the
installed package's folder do not look.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOLDERS = {"vidcolor": REPO / "vidcolor", "vidcolor.models": REPO / "models", "vidcolor.training": REPO / "training"}

# Highest first. A part may import only from parts in lower layers; parts in one layer are
# independent of each other. The command line and the demo (which `vidcolor demo` launches)
# are the only faces: nothing below them imports them; the GStreamer element (gst) is a face
# too. `vidcolor gst-path` finds the element's folder through gstenv, below.
LAYERS = [
    {"__main__"},
    {"cli", "gst"},
    {"demo"},
    {"demo_uploads"},
    {"batch"},
    {"references"},
    {"example", "evaluate", "training", "chunks", "shots"},
    {"runner"},
    {"colorizer"},
    {"clip", "photo"},
    {"judge", "pins"},
    {"yuv420"},
    {"report", "temporal", "keyframes", "baselines", "guided", "images", "metrics"},
    {"flow", "color", "media", "imagesize", "gstenv"},
    {"defaults", "errors", "allocator", "openmp"},
    {"models"},  # the networks import nothing from vidcolor
]


def module_files() -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    modules = {}
    for package, folder in FOLDERS.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            if package == "vidcolor" and parts and parts[0] in ("models", "training"):
                continue
            modules[".".join([package, *parts])] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The names ``name`` imports (modules of the package where they are, else the top-level package)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return found


def part_of(module: str) -> str | None:
    """The layered part a module belongs to: ``vidcolor.media.writer`` -> ``media``; None outside vidcolor."""
    if module != "vidcolor" and not module.startswith("vidcolor."):
        return None
    return module.split(".")[1] if "." in module else "__init__"


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def layer_of(part: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if part in layer)


def test_every_part_has_a_layer(graph):
    parts = {part_of(name) for name in graph} - {"__init__"}
    assert parts <= set().union(*LAYERS), f"put these in LAYERS: {parts - set().union(*LAYERS)}"


def test_no_part_imports_a_higher_or_sibling_part(graph):
    wrong = []
    for importer, imported in graph.items():
        source = part_of(importer)
        for target in filter(None, map(part_of, imported)):
            if source != "__init__" and target != source and target != "__init__" and layer_of(target) <= layer_of(source):
                wrong.append(f"{importer} imports {target}")
            if target == "__init__" and source not in {"__main__", "cli", "demo"} and source != "__init__":
                wrong.append(f"{importer} imports the vidcolor package itself (import the module instead)")
    assert not wrong, "\n".join(wrong)


def test_only_media_uses_pyav_and_media_uses_no_torch(graph):
    for importer, imported in graph.items():
        tops = {name.split(".")[0] for name in imported}
        if part_of(importer) == "media":
            assert not tops & {"torch", "torchvision"}, f"{importer} imports torch"
        else:
            assert "av" not in tops, f"{importer} imports PyAV; only vidcolor.media may"


def test_the_import_graph_has_no_cycles(graph):
    internal = {name: {t for t in imported if t in graph and t != name} for name, imported in graph.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> list[str] | None:
        state[name] = 1
        for target in sorted(internal[name]):
            if state.get(target) == 1:
                return [*path[path.index(target):], target] if target in path else [*path, target]
            if target not in state and (cycle := visit(target, [*path, target])):
                return cycle
        state[name] = 2
        return None

    for name in sorted(internal):
        if name not in state:
            cycle = visit(name, [name])
            assert cycle is None, " -> ".join(cycle)


def test_the_checks_see_a_violation(tmp_path):
    """The graph reader finds an upward import inside a function (so the checks above can fail)."""
    module = tmp_path / "colorizer.py"
    module.write_text("def stream():\n    from .runner import colorize_video\n")
    assert "vidcolor.runner" in imports_of("vidcolor.colorizer", module, {"vidcolor.runner": Path()})
