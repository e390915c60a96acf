"""The house: every module's imports point down the order of the rooms, and no module imports
itself back through others (no cycle). The order is written here, once:

    runtime     plumbing: errors, files, progress, checkpoint, distributed, options, cli
    data        interactions, readers, the graph, the sampler, sparse kernels
    ops         candidate message-passing ops, activations, layer aggregations
    evaluation  full-ranking metrics, serving
    models      what a search and a training both need: space, genotype, losses, the standalone net
    training    fit, retrain, selection
    supernet    the one-shot supernet, its search strategies, derive
    app         the run's config, jobs, the main job's pipeline
    (commands)  train.py, derive.py, recommend.py, __main__.py at the root

A module may import its own room and the rooms below it; never one above."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ROOMS = ["runtime", "data", "ops", "evaluation", "models", "training", "supernet", "app",
         "commands"]
COMMANDS = {"train", "derive", "recommend", "__main__", "__init__"}


def module_name(path):
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(["recnas", *parts])


def package_modules():
    """recnas module name -> file, for every module of the installed package."""
    modules = {}
    for path in ROOT.glob("*.py"):
        if path.stem in COMMANDS:
            modules[module_name(path)] = path
    for room in ROOMS[:-1]:
        for path in (ROOT / room).rglob("*.py"):
            modules[module_name(path)] = path
    return modules


def room_of(module):
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in COMMANDS:
        return "commands"
    return parts[1]


def imports_of(path, module):
    """The recnas modules ``path`` imports (relative imports resolved), function bodies
    included: an import hidden in a function still makes the arrow."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "recnas")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.split(".")[0] != "recnas":
                continue
            found.add(name)
            found.update(f"{name}.{a.name}" for a in node.names)   # from pkg import module
    return found


def graph():
    modules = package_modules()
    edges = {}
    for name, path in modules.items():
        targets = set()
        for imported in imports_of(path, name):
            while imported not in modules and "." in imported:   # pkg.module.Name -> pkg.module
                imported = imported.rsplit(".", 1)[0]
            if imported in modules and imported != name:
                targets.add(imported)
        edges[name] = targets
    return edges


def test_every_room_is_declared():
    folders = {p.parent.relative_to(ROOT).parts[0] for p in ROOT.glob("*/__init__.py")}
    assert folders - {"tests", "benchmarks"} == set(ROOMS[:-1])


def test_imports_point_down():
    upward = []
    for module, targets in graph().items():
        for target in targets:
            if ROOMS.index(room_of(target)) > ROOMS.index(room_of(module)):
                upward.append(f"{module} -> {target}")
    assert not upward, "imports against the order of the rooms:\n" + "\n".join(sorted(upward))


def test_no_cycles():
    edges, state, cycles = graph(), {}, []

    def visit(node, stack):
        state[node] = "open"
        for target in sorted(edges[node]):
            if state.get(target) == "open":
                cycles.append(" -> ".join(stack[stack.index(target):] + [target]))
            elif target not in state:
                visit(target, stack + [target])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("source, expected", [
    ("from recnas.app.config import RunConfig", "recnas.app.config"),
    ("def f():\n    from recnas.supernet import search", "recnas.supernet.search"),
])
def test_the_reader_sees_imports(tmp_path, source, expected):
    """The checks above would pass vacuously if imports went unseen: an upward import inside
    a function is found."""
    path = tmp_path / "m.py"
    path.write_text(source)
    assert expected in imports_of(path, "recnas.data.m")
