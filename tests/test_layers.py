"""The packages' imports run one way: ground, contracts, three floors, one top.

    activitylog (top: CLI, runtime, demo, dev stack)  imported by no package
        producers | processors | query               never one another
            schemas                                   the contracts
                common                                the ground: imports nothing of ours

docs/architecture.md explains the layers; this test is what keeps them. It reads every
module's imports from its syntax tree (nothing is imported), so it names the file, the
line and the offending import.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("common", "schemas", "producers", "processors", "query", "activitylog")
# What each package may import of the project, besides itself.
ALLOWED: dict[str, frozenset[str]] = {
    "common": frozenset(),
    "schemas": frozenset({"common"}),
    "producers": frozenset({"common", "schemas"}),
    "processors": frozenset({"common", "schemas"}),
    "query": frozenset({"common", "schemas"}),
    "activitylog": frozenset({"common", "schemas", "producers", "processors", "query"}),
}
# Project imports allowed inside a function body, each deferring a heavy library.
DEFERRED: dict[tuple[str, str], str] = {
    ("activitylog/runtime.py", "processors.worker"): "Faust, aiokafka, mode: about 1 s to import",
    ("activitylog/runtime.py", "processors.delivery.agent"): "aiokafka: deferred like the worker",
}


def _modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def _imported(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        return [node.module]
    return []


def _project_imports(tree: ast.Module) -> list[tuple[int, str, bool]]:
    """(line, module, inside a function) for every import of a project package."""
    found: list[tuple[int, str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for module in _imported(node):
            if module.split(".")[0] in PACKAGES:
                found.append((node.lineno, module, in_function))
        inside = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(tree, False)
    return found


def test_every_package_imports_only_the_layers_below_it() -> None:
    offences = []
    for path in _modules():
        rel = path.relative_to(ROOT).as_posix()
        package = rel.split("/")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        for line, module, _ in _project_imports(tree):
            target = module.split(".")[0]
            if target != package and target not in ALLOWED[package]:
                offences.append(
                    f"{rel}:{line} imports {module} ({package} may not import {target})"
                )
    assert not offences, "\n".join(offences)


def test_no_project_import_hides_in_a_function_body() -> None:
    offences = []
    for path in _modules():
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        for line, module, in_function in _project_imports(tree):
            if in_function and (rel, module) not in DEFERRED:
                offences.append(f"{rel}:{line} imports {module} inside a function")
    assert not offences, "\n".join(offences)


def test_the_layer_check_catches_a_floor_importing_another() -> None:
    tree = ast.parse("from query.client import HttpReader\ndef f():\n    import producers.bulk\n")
    assert _project_imports(tree) == [(1, "query.client", False), (3, "producers.bulk", True)]


# Test modules are leaves: what two modules share lives in tests/fixtures, named for what it is.


def _test_module_imports(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, module) for every import, anywhere in the tree, that loads a `test_*` module."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            # `from tests.unit import test_x` loads the module named by the alias.
            modules = [base, *(f"{base}.{alias.name}".lstrip(".") for alias in node.names)]
        else:
            continue
        found += [(node.lineno, m) for m in modules if m.rpartition(".")[2].startswith("test_")]
    return sorted(found)


def test_no_module_under_tests_imports_a_test_module() -> None:
    offences = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        for line, module in _test_module_imports(tree):
            offences.append(
                f"{rel}:{line} imports {module}, a test module: share through tests/fixtures"
            )
    assert not offences, "\n".join(offences)


def test_the_test_module_check_catches_every_import_form() -> None:
    tree = ast.parse(
        "import tests.unit.test_a\n"
        "from tests.fixtures.events import OMIT\n"
        "from tests.integration.test_b import x\n"
        "def f():\n"
        "    from tests.unit import test_c\n"
        "from .test_d import y\n"
    )
    assert _test_module_imports(tree) == [
        (1, "tests.unit.test_a"),
        (3, "tests.integration.test_b"),
        (5, "tests.unit.test_c"),
        (6, "test_d"),
    ]


def test_export_formats_never_import_manifests() -> None:
    """Manifests learn a file's columns from the formats; the formats know nothing of manifests."""
    offences = []
    for path in sorted((ROOT / "query" / "exports").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        offences += [
            f"{rel}:{line} imports {module}"
            for line, module, _ in _project_imports(tree)
            if module.startswith("query.manifests")
        ]
    assert not offences, "\n".join(offences)
