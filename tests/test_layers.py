"""The package's layers, kept by a test: each imports only the ones below it, no cycles.

Every import counts, wherever it stands: at module level, inside a function (deferred,
to keep loading cheap) and under ``if TYPE_CHECKING``. A deferred import hides a cycle
from Python but not from a reader, so it is held to the same rule.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "jupyter_dockerbuild"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

#: Bottom to top. A module may import modules of its own layer and of layers below.
LAYERS: list[tuple[str, ...]] = [
    ("errors", "units", "markup"),
    ("engine",),
    ("images",),
    ("builder",),
    ("ui",),
    ("ipython",),
    ("__init__",),  # the public API: lazy exports of everything below
]

#: Third-party packages each layer may use (beyond the standard library). The engine
#: alone speaks HTTP; only the UI draws widgets; IPython itself only above the builder.
THIRD_PARTY = {
    "requests": {"engine"},
    "requests_unixsocket": {"engine"},
    "h2": {"engine"},
    "ipywidgets": {"ui"},
    "IPython": {"ui", "ipython"},
    "traitlets": {"ui", "ipython"},
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([PACKAGE, *parts])] = path
    return out


MODULES = _modules()


def _layer_of(module: str) -> int:
    parts = module.split(".")
    head = parts[1] if len(parts) > 1 else "__init__"
    for level, names in enumerate(LAYERS):
        if head in names:
            return level
    raise AssertionError(f"{module} is in no layer: add its folder to LAYERS")


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _imports(module: str) -> list[tuple[int, str]]:
    """(line, imported name) for every import in ``module``, resolved to absolute names."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    package = module if _is_package(module) else module.rsplit(".", 1)[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            for alias in node.names:
                # `from . import x` / `from .pkg import mod` may name a module.
                candidate = f"{prefix}.{alias.name}"
                found.append((node.lineno, candidate if candidate in MODULES else prefix))
    return found


def _internal_edges() -> dict[str, set[tuple[int, str]]]:
    edges: dict[str, set[tuple[int, str]]] = {}
    for module in MODULES:
        targets = set()
        for line, name in _imports(module):
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                while name not in MODULES:  # `from pkg.mod import Name`
                    name = name.rsplit(".", 1)[0]
                if name != module:
                    targets.add((line, name))
        edges[module] = targets
    return edges


EDGES = _internal_edges()


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        _layer_of(module)


def test_no_import_goes_up_a_layer() -> None:
    upward = [
        f"{MODULES[m].relative_to(ROOT.parent)}:{line} imports {t}"
        for m, targets in EDGES.items()
        for line, t in sorted(targets)
        if _layer_of(t) > _layer_of(m)
    ]
    assert not upward, "imports that go up a layer:\n" + "\n".join(upward)


def test_no_import_cycle() -> None:
    graph = {m: {t for _, t in targets} for m, targets in EDGES.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("dependency", sorted(THIRD_PARTY))
def test_third_party_packages_stay_in_their_layers(dependency: str) -> None:
    allowed = THIRD_PARTY[dependency]
    misplaced = [
        f"{MODULES[m].relative_to(ROOT.parent)}:{line}"
        for m in MODULES
        for line, name in _imports(m)
        if name.split(".")[0] == dependency
        and (m.split(".")[1] if m.count(".") else "__init__") not in allowed
    ]
    assert not misplaced, f"{dependency} imported outside {sorted(allowed)}: {misplaced}"


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    # The checker itself must be able to fail: an engine module importing the UI.
    global MODULES
    saved = MODULES
    fake = tmp_path / "engine_fake.py"
    fake.write_text("def f():\n    from ..ui import live\n", encoding="utf-8")
    try:
        MODULES = {**saved, f"{PACKAGE}.engine.fake": fake}
        found = _imports(f"{PACKAGE}.engine.fake")
        assert (2, f"{PACKAGE}.ui.live") in found
        assert _layer_of(f"{PACKAGE}.ui.live") > _layer_of(f"{PACKAGE}.engine.fake")
    finally:
        MODULES = saved
