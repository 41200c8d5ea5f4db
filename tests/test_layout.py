"""The folder list is the architecture: each package may import only the packages below it.

Reads every module's imports with ``ast`` (nothing is imported or run), folds them to package
level and checks three rules: the edges between packages are the ones ``ALLOWED`` lists (so a
new arrow is a decision someone writes down here), there is no cycle, and ``signer/core`` — the
pure presigning core — imports nothing of the project outside itself. ``bench`` and the shipped
packages never import ``tests``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Top to bottom: a package may import those listed for it, and nothing else of the project.
# An entry may name a subpackage: ``signer.core`` (pure SigV4, policy, tokens; it imports nothing
# of the project) is a leaf library that bootstrap may sign its few raw S3 calls with, while the
# rest of the signer stays out of bootstrap's reach.
ALLOWED: dict[str, set[str]] = {
    "common": set(),
    "bootstrap": {"common", "signer.core"},
    "signer": {"common"},
    "console": {"common"},
    "stack": {"common", "bootstrap", "signer", "console"},
    "rotation": {"common", "bootstrap", "signer", "stack"},
    "minio_stack": {"common", "bootstrap", "signer", "console", "stack", "rotation"},
    # rotation: harness/faulty_cli.py runs the rotation commands with a test-only fault hook.
    "harness": {"common", "bootstrap", "rotation"},
    "bench": {"common", "bootstrap", "signer", "harness"},
    "tests": {
        "common", "bootstrap", "signer", "console", "stack", "rotation", "minio_stack",
        "harness", "bench",
    },
}  # fmt: skip
PURE_CORE = ("signer", "core")


def imported_modules(path: Path, package: str) -> Iterable[str]:
    """Absolute module names imported anywhere in ``path`` (including inside functions);
    ``package`` is the dotted package the module sits in, for relative imports."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing module's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                yield ".".join([*base, node.module] if node.module else base)
            elif node.module:
                yield node.module


def module_imports(root: Path, packages: Iterable[str]) -> dict[str, set[str]]:
    """``{importing module: {imported module of the project}}`` for every .py under packages."""
    packages = set(packages)
    found: dict[str, set[str]] = {}
    for package in sorted(packages):
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            names = imported_modules(path, ".".join(parts[:-1]))
            found[".".join(parts)] = {m for m in names if m.split(".")[0] in packages}
    return found


def package_edges(imports: Mapping[str, set[str]]) -> set[tuple[str, str]]:
    return {
        (src.split(".")[0], dst.split(".")[0])
        for src, targets in imports.items()
        for dst in targets
        if src.split(".")[0] != dst.split(".")[0]
    }


def cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """Every cycle reachable in the package graph, each as the path that closes it."""
    graph: dict[str, set[str]] = {}
    for src, dst in edges:
        graph.setdefault(src, set()).add(dst)
    found: list[list[str]] = []

    def walk(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in path:
                found.append([*path[path.index(nxt) :], nxt])
            elif len(path) < len(graph) + 1:
                walk(nxt, [*path, nxt])

    for start in sorted(graph):
        walk(start, [start])
    return found


def _allowed(module: str, allowed: set[str]) -> bool:
    return any(module == entry or module.startswith(entry + ".") for entry in allowed)


def violations(root: Path, allowed: Mapping[str, set[str]]) -> list[str]:
    """Every broken rule, one line each, naming the module that breaks it."""
    imports = module_imports(root, allowed)
    problems = []
    for src, targets in sorted(imports.items()):
        top = src.split(".")[0]
        for dst in sorted(targets):
            other = dst.split(".")[0]
            if other != top and not _allowed(dst, allowed[top]):
                problems.append(
                    f"{src} imports {dst}: {top} may import only {sorted(allowed[top])}"
                )
            core = ".".join(PURE_CORE)
            if _allowed(src, {core}) and not _allowed(dst, {core}):
                problems.append(f"{src} imports {dst}: signer/core imports only itself")
    for cycle in cycles(package_edges(imports)):
        problems.append("cycle: " + " -> ".join(cycle))
    return problems


def test_the_tree_imports_only_downward() -> None:
    assert violations(ROOT, ALLOWED) == []


SHIPPED = ("common", "bootstrap", "signer", "console", "stack", "rotation", "minio_stack")
MAX_FUNCTION_LINES = 60
REASON = "Long because"


def long_functions(root: Path, packages: Iterable[str]) -> list[str]:
    """Functions over MAX_FUNCTION_LINES whose docstring gives no reason ("Long because ...")."""
    found = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES and REASON not in (ast.get_docstring(node) or ""):
                    where = path.relative_to(root)
                    found.append(f"{where}:{node.lineno} {node.name}() is {length} lines")
    return found


def test_functions_are_short_or_say_why() -> None:
    assert long_functions(ROOT, (*SHIPPED, "harness", "bench")) == []


def test_the_length_check_reads_the_reason(tmp_path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    tree = _tree(
        tmp_path,
        {
            "pkg/a.py": f"def silent():\n{body}",
            "pkg/b.py": f'def explained():\n    """{REASON} it is a table."""\n{body}',
        },
    )
    assert long_functions(tree, ["pkg"]) == [
        f"pkg/a.py:1 silent() is {MAX_FUNCTION_LINES + 1} lines"
    ]


def test_every_package_is_declared() -> None:
    """A new top-level package must take a place in ALLOWED, or the checks above skip it."""
    on_disk = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert on_disk == set(ALLOWED), "add the new package to ALLOWED with what it may import"


def _tree(tmp_path: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


# The shapes the old tree had, each of which the check must catch.
@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (  # signer <-> bootstrap both ways (a sibling cycle)
            {
                "bootstrap/__init__.py": "",
                "bootstrap/main.py": "from signer import cli\n",
                "signer/__init__.py": "",
                "signer/cli.py": "from bootstrap.cli import fail\n",
            },
            ["may import only", "cycle: bootstrap -> signer -> bootstrap"],
        ),
        (  # the pure core reaching for a helper elsewhere, inside a function
            {
                "common/__init__.py": "",
                "signer/__init__.py": "",
                "signer/core/__init__.py": "",
                "signer/core/policy.py": "def f():\n    from common.envconfig import parse_size\n",
            },
            ["signer.core.policy imports common.envconfig: signer/core imports only itself"],
        ),
        (  # bench importing the test fixtures
            {
                "bench/__init__.py": "",
                "bench/stack.py": "from tests.minio_server import MinioServer\n",
                "tests/__init__.py": "",
            },
            ["bench.stack imports tests.minio_server"],
        ),
        (  # a relative import is resolved, not skipped
            {
                "console/__init__.py": "",
                "console/render.py": "from ..stack import settings\n",
                "stack/__init__.py": "",
            },
            ["console.render imports stack"],
        ),
    ],
)
def test_the_check_catches_what_the_old_tree_did(tmp_path, files, expected) -> None:
    found = "\n".join(violations(_tree(tmp_path, files), ALLOWED))
    for text in expected:
        assert text in found


def test_a_clean_tree_passes(tmp_path) -> None:
    tree = _tree(
        tmp_path,
        {
            "common/__init__.py": "",
            "signer/__init__.py": "",
            "signer/core/__init__.py": "import hmac\nfrom signer.core import keys\n",
            "signer/app.py": "from common.errors import StackError\nfrom signer.core import x\n",
        },
    )
    assert violations(tree, ALLOWED) == []
