"""The module graph: no import cycles (lazy, function-level imports included) and the layering the packages name."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("audit", "framework")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in sorted((REPO / package).rglob("*.py"))}


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every module `name` imports, anywhere in its body (function-level imports too), as dotted names.
    `from x import y` counts as x.y when y is a submodule (and as x only if it also takes a name defined in x);
    relative imports are resolved."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            submodules = {f"{target}.{alias.name}" for alias in node.names} & modules.keys()
            found |= submodules
            if len(submodules) < len(node.names):  # a name defined in target itself
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    """Project module → the project modules it imports (an import of a.b.c also runs a and a.b, but a package's
    __init__ importing its own submodules is not a cycle, so only the named module is an edge)."""
    modules = project_modules()
    return {name: {m for m in imports_of(name, path, modules) if m in modules and m != name} for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = GREY
        stack.append(node)
        for nxt in sorted(graph[node]):
            if colour[nxt] == GREY:
                return stack[stack.index(nxt) :] + [nxt]
            if colour[nxt] == WHITE and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        colour[node] = BLACK
        return None

    for node in sorted(graph):
        if colour[node] == WHITE and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_sees_lazy_and_submodule_imports():
    graph = import_graph()
    assert "audit.store" in graph and "framework.load" in graph
    assert any(graph.values()), "no imports found: the parser is broken"


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_find_cycle_reports_the_modules():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


FORBIDDEN = {
    # importer prefix: imported prefixes it must not use
    "framework": ("audit",),
    "audit.core": ("audit.store", "audit.tui", "audit.cli", "audit.reports", "sqlite3", "sqlite_utils", "textual"),
    "audit.store": ("audit.tui", "audit.cli", "textual"),
    "audit.reports": ("audit.tui", "audit.cli", "textual"),
}


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def layering_violations() -> list[str]:
    modules = project_modules()
    violations = []
    for name, path in modules.items():
        for importer, banned in FORBIDDEN.items():
            if within(name, importer):
                for imported in sorted(imports_of(name, path, modules)):
                    if any(within(imported, b) for b in banned):
                        violations.append(f"{name} imports {imported}")
    return violations


def test_layering():
    violations = layering_violations()
    assert violations == [], "layering broken:\n" + "\n".join(violations)


# Quality gates: ruff (lint and format) and mypy, with the settings in pyproject.toml, fail the suite with their output.


def gate(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"


RUFF_PATHS = ("audit", "framework", "tests", "benchmarks", "tools")


def test_ruff_check():
    gate("ruff", "check", "--no-cache", *RUFF_PATHS)


def test_ruff_format():
    gate("ruff", "format", "--check", "--no-cache", *RUFF_PATHS)


def test_mypy():
    gate("mypy")  # pyproject.toml's [tool.mypy] names the packages: audit and framework
