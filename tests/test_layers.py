"""The package's layers point down: no module imports one of a higher layer, no two modules import each other
(directly or round a circle), and a module imports the package's own modules inside a function only in the
command line, which defers the commands' heavy imports until the arguments are parsed (builder/cli.py says why)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Bottom first. A module may import its own layer's modules and those below.
LAYERS = [
    ["multi_llm_coord", "builder", "builder.layout", "builder.files", "builder.progress", "builder.rejections",
     "builder.redact", "builder.machine", "builder.episode", "builder.spill", "builder.splits", "builder.selection",
     "builder.statistics", "builder.token_bases"],
    ["builder.sources"],
    ["builder.stages"],
    ["builder.provenance"],
    ["builder.config"],
    # the benchmark scores what the build wrote: it reads episodes, never enriches one (builder.stages may not
    # import it), and nothing it computes reaches an episode's fields
    ["builder.benchmark"],
    ["builder.families"],
    ["builder.output", "builder.engines"],
    ["builder.validate"],
    ["builder.pipeline", "builder.push", "dataset_card"],
    ["builder.cli", "builder.__main__"],
]
# builder.benchmark names TrainedCoordinator on first use: importing the package for its protocol or bootstrap must not
# load torch
DEFERRED_IMPORTS_ALLOWED = {"builder.cli", "builder.benchmark"}
# Old addresses kept for one release: each warns and hands over its new module's names (by importlib, which the
# layer walk cannot see, hence this list)
MOVED = {"builder.stages.latents.trained": "builder.benchmark.trained"}


def modules() -> dict[str, Path]:
    found = {"multi_llm_coord": ROOT / "multi_llm_coord.py"}
    for path in [*(ROOT / "builder").rglob("*.py"), *(ROOT / "dataset_card").rglob("*.py")]:
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def layer_of(module: str) -> int:
    best = max((prefix for layer in LAYERS for prefix in layer if module == prefix or module.startswith(prefix + ".")),
               key=len)
    return next(i for i, layer in enumerate(LAYERS) if best in layer)


def imports(known: dict[str, Path]) -> list[tuple[str, str, int, bool]]:
    """(importer, imported module, line, inside a function) for every import of the package's own modules."""
    def resolve(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    found = []
    for module, path in known.items():
        for node, inside_function in _walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in {resolve(name) for name in names} - {None, module}:
                found.append((module, target, node.lineno, inside_function))
    return found


def _walk(node: ast.AST, inside_function: bool = False):
    for child in ast.iter_child_nodes(node):
        inner = inside_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        yield child, inner
        yield from _walk(child, inner)


def test_the_layers_cover_every_module():
    for module in modules():
        assert layer_of(module) >= 0


def test_no_import_points_up_a_layer():
    upward = [f"{m}:{line} imports {t} (layer {layer_of(t)} > {layer_of(m)})"
              for m, t, line, _ in imports(modules()) if layer_of(t) > layer_of(m)]
    assert upward == []


def test_no_import_circle():
    graph: dict[str, set[str]] = {}
    for module, target, _, _ in imports(modules()):
        graph.setdefault(module, set()).add(target)
    state: dict[str, int] = {}

    def circle_from(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
            if nxt not in state:
                found = circle_from(nxt, path + [nxt])
                if found:
                    return found
        state[node] = 2
        return None

    circles = [c for c in (circle_from(m, [m]) for m in sorted(graph) if m not in state) if c]
    assert circles == []


def test_own_modules_are_imported_inside_functions_only_by_the_command_line():
    deferred = [f"{m}:{line} imports {t}" for m, t, line, inner in imports(modules())
                if inner and m not in DEFERRED_IMPORTS_ALLOWED]
    assert deferred == []


def test_the_checks_see_an_upward_import_and_a_circle(tmp_path):
    """The checks can fail: an import of the pipeline from a reader is found, and so is a circle."""
    known = modules()
    reader = tmp_path / "reader.py"
    reader.write_text("def f():\n    from builder.pipeline import build\n", encoding="utf-8")
    found = imports({"builder.sources.fake": reader} | {"builder.pipeline": known["builder.pipeline"]})
    assert ("builder.sources.fake", "builder.pipeline", 2, True) in found
    assert layer_of("builder.pipeline") > layer_of("builder.sources.fake")


def test_enrichment_never_reads_the_benchmark():
    """The stages enrich episodes; the benchmark scores what was written. A stage that imported a scorer could put
    an outcome's trace into the states it is scored on: none does, at any depth of the stages' own imports."""
    known = modules()
    reached = {m for m in known if m.startswith("builder.stages") and m not in MOVED}
    graph: dict[str, set[str]] = {}
    for module, target, _, _ in imports(known):
        graph.setdefault(module, set()).add(target)
    frontier = set(reached)
    while frontier:
        frontier = {t for m in frontier for t in graph.get(m, ())} - reached
        reached |= frontier
    assert sorted(m for m in reached if m.startswith("builder.benchmark")) == []
    assert layer_of("builder.benchmark.probe") > layer_of("builder.stages.latents.coordinator")


def test_a_moved_module_warns_and_is_its_new_self():
    import importlib
    import warnings

    for old, new in MOVED.items():
        module = importlib.import_module(old)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            moved = module.TrainedCoordinator
        assert moved is importlib.import_module(new).TrainedCoordinator
        assert [w.category for w in caught] == [DeprecationWarning] and new in str(caught[0].message)
    from builder.benchmark import TrainedCoordinator

    assert TrainedCoordinator is moved
