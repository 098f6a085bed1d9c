"""corral has no import cycles, not even through imports made only for type hints: a module
that needs a little of a daemon declares a Protocol of what it uses (master/shell.py,
spark/rest.py's DispatcherShell, agent/master_link.py's LinkedAgent, ...). And each room
(a package or a top-level module of corral) imports only the rooms the map in
runtime/README.md allows: ROOMS below is that map."""

import ast
from pathlib import Path

import corral

SRC = Path(corral.__file__).resolve().parent


BASE = {"corral", "resources", "ids", "attributes", "config", "protocol", "http_stream", "server"}
# room -> the other rooms its modules may import (type-only imports included).
ROOMS: dict[str, set[str]] = {
    "corral": set(), "resources": set(), "ids": set(), "server": set(), "gc_policy": set(),
    "attributes": {"resources"},
    "config": {"resources"},
    "protocol": {"corral"},
    "http_stream": {"protocol"},
    "allocator": {"resources"},
    "executor": {"protocol"},
    "leader": {"protocol", "master"},  # only the contender, for the master's registry
    "scheduler": {"leader", "protocol"},
    "security": BASE | {"agent", "master"},  # security/agent.py and master.py type the states they guard
    "agent": BASE | {"executor", "leader", "security"},
    "master": BASE | {"allocator", "leader", "security", "webui"},
    "webui": {"http_stream", "master"},
    "spark": BASE | {"leader", "scheduler", "security"},
    "sparkperf": {"spark"},
    "cli": BASE | {"gc_policy", "agent", "master", "leader", "scheduler", "security", "spark", "sparkperf"},
    "__main__": {"cli"},
}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "corral"


def _modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = ("corral", *path.relative_to(SRC).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(path: Path, known: dict[str, Path]) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name in known}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, if there is any (depth-first search)."""
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        if module in path:
            return path[path.index(module):] + [module]
        if module in done:
            return None
        path.append(module)
        for imported in sorted(graph[module]):
            found = visit(imported)
            if found:
                return found
        path.pop()
        done.add(module)
        return None

    for module in sorted(graph):
        found = visit(module)
        if found:
            return found
    return None


def test_no_import_cycles() -> None:
    modules = _modules()
    graph = {name: _imports(path, modules) - {name} for name, path in modules.items()}
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_each_room_imports_only_what_the_map_allows() -> None:
    modules = _modules()
    assert {_room(m) for m in modules} == set(ROOMS), "a room is missing from ROOMS (and the README's map)"
    wrong = sorted(f"{name} imports {imported}" for name, path in modules.items()
                   for imported in _imports(path, modules)
                   if _room(imported) != _room(name) and _room(imported) not in ROOMS[_room(name)])
    assert not wrong, wrong

