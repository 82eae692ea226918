"""The layout rules of ARCHITECTURE.md, checked on every import statement of the package, and the linter.

Imports are read from the source with ``ast`` (nothing is imported), including
imports inside functions: a cycle hidden in a function is still a cycle a
reader has to untangle.
"""

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "tinydl"
ARCHITECTURE = REPO / "ARCHITECTURE.md"


def package_modules():
    """{'tinydl.ops.arithmetic': (path, is_package)} for every module of the package."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "graders" in path.parts:  # package data: the assignments' tests, run against a submission
            continue
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        modules[".".join(parts)] = (path, is_package)
    return modules


MODULES = package_modules()


def imports_of(module):
    """[(line, imported module, name or None)] for every tinydl import in ``module``'s source.

    ``from .x import y`` counts as importing module ``x.y`` when that is a module, else ``x``
    (with ``y`` the name taken from it).
    """
    path, is_package = MODULES[module]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, None) for alias in node.names if alias.name.split(".")[0] == "tinydl"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "tinydl":
                continue
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                found.append(
                    (node.lineno, submodule, None) if submodule in MODULES else (node.lineno, target, alias.name)
                )
    return found


def import_graph():
    graph = {}
    for module in MODULES:
        edges = set()
        for _, target, _ in imports_of(module):
            while target not in MODULES and "." in target:  # `import tinydl.x.name` of an attribute
                target = target.rsplit(".", 1)[0]
            if target != module:
                edges.add(target)
        graph[module] = edges
    return graph


def layers_from_architecture_md():
    """{module or 'prefix.*': (layer number, layer name)} from the table in ARCHITECTURE.md."""
    table = {}
    for line in ARCHITECTURE.read_text(encoding="utf-8").splitlines():
        row = re.match(r"\|\s*(\d+)\s*\|\s*([^|]+?)\s*\|([^|]+)\|", line)
        if row:
            for name in re.findall(r"`([^`]+)`", row[3]):
                table[name] = (int(row[1]), row[2])
    return table


def layer_of(module, table):
    if module in table:
        return table[module]
    parts = module.split(".")
    for n in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:n]) + ".*"
        if prefix in table:
            return table[prefix]
    return None


def find_cycle(graph):
    """One import cycle as a list of modules (first == last), or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        state[node] = "done"
        stack.pop()
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def test_the_import_graph_has_no_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_every_module_has_a_layer_in_architecture_md():
    table = layers_from_architecture_md()
    assert len(table) > 10, "ARCHITECTURE.md's layer table was not found"
    missing = [m for m in MODULES if layer_of(m, table) is None]
    assert not missing, f"modules with no layer in ARCHITECTURE.md's table (add them there): {missing}"


def test_imports_only_go_down_the_layers():
    table = layers_from_architecture_md()
    upward = []
    for module in MODULES:
        own = layer_of(module, table)
        for line, target, _ in imports_of(module):
            while target not in MODULES and "." in target:
                target = target.rsplit(".", 1)[0]
            theirs = layer_of(target, table)
            if own and theirs and theirs[0] > own[0]:
                upward.append(
                    f"{MODULES[module][0].relative_to(REPO)}:{line}: {module} (layer {own[0]} {own[1]}) "
                    f"imports {target} (layer {theirs[0]} {theirs[1]})"
                )
    assert not upward, "imports that go up a layer:\n" + "\n".join(upward)


def test_the_engine_imports_nothing_of_tinydl():
    assert imports_of("tinydl.autograd") == []


def test_no_private_name_is_imported_from_another_module():
    private = []
    for module in MODULES:
        package = module if MODULES[module][1] else module.rsplit(".", 1)[0]
        for line, target, name in imports_of(module):
            if name is not None and name.startswith("_") and not name.startswith("__"):
                private.append(f"{MODULES[module][0].relative_to(REPO)}:{line}: from {target} import {name}")
            elif name is None and target.rsplit(".", 1)[-1].startswith("_"):
                owner = target.rsplit(".", 1)[0]  # a private module: only its own package may use it
                if not (package == owner or package.startswith(owner + ".")):
                    private.append(f"{MODULES[module][0].relative_to(REPO)}:{line}: import of {target}")
    assert not private, "private names imported across modules (make them public where they live):\n" + "\n".join(
        private
    )


def _ruff():
    if (
        shutil.which("ruff") is None
        and subprocess.run([sys.executable, "-m", "ruff", "--version"], capture_output=True).returncode != 0
    ):
        pytest.skip("ruff is not installed (it comes with the test extra: pip install -e '.[test]')")
    return [sys.executable, "-m", "ruff"]


def test_ruff_lint_passes():
    result = subprocess.run(
        _ruff() + ["check", "--no-cache", "tinydl", "tests", "benchmarks"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, "ruff check found problems (fix: ruff check --fix .):\n" + result.stdout[-6000:]


def test_ruff_format_leaves_the_code_as_it_is():
    result = subprocess.run(
        _ruff() + ["format", "--check", "--no-cache", "tinydl", "tests", "benchmarks"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, (
        "files not formatted (fix: ruff format tinydl tests benchmarks):\n" + result.stdout[-4000:]
    )
