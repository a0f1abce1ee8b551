"""The import graph of `tap_perfreports/`: acyclic, and flowing one way.

Every import counts: module-level, lazy ones inside functions, and typing-only ones under
`TYPE_CHECKING` (a loop through type hints is still a loop in the design).
"""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parent.parent / "tap_perfreports"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The project modules an import statement names (a name imported from a package
    counts as its submodule when there is one)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".")
            if MODULES[module].name != "__init__.py":
                package = package[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, base] if base else package)
        names = [f"{base}.{alias.name}" for alias in node.names]
        names = [name if name in MODULES else base for name in names]
    found = []
    for name in names:
        target = name
        while target not in MODULES and "." in target:
            target = target.rsplit(".", 1)[0]
        if target in MODULES and target != module:
            found.append(target)
    return found


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        graph[module] = {
            target
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for target in imported(module, node)
        }
    return graph


GRAPH = import_graph()


def layer(module: str) -> str:
    """tap (the config contract and the sandbox switch), vendors, sandbox, or machinery."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("tap", "__main__"):
        return "tap"
    if parts[1] in ("vendors", "sandbox"):
        return parts[1]
    return "machinery"


#: Which layers each layer may import. The sandbox may use the shared clock only.
ALLOWED = {
    "tap": {"tap", "machinery", "vendors", "sandbox"},
    "vendors": {"vendors", "machinery"},
    "machinery": {"machinery"},
    "sandbox": {"sandbox"},
}
SANDBOX_MAY_USE = {"tap_perfreports.clock"}


def test_the_graph_reads_the_imports_it_should():
    """The checks below mean something only if the reader sees lazy and typing imports."""
    assert "tap_perfreports.sandbox.server" in GRAPH["tap_perfreports.tap"]  # lazy, typing
    assert "tap_perfreports.streams" in GRAPH["tap_perfreports.vendors.infinity"]
    assert len(MODULES) > 30


def test_the_import_graph_is_acyclic():
    try:
        graphlib.TopologicalSorter(GRAPH).prepare()
    except graphlib.CycleError as error:
        pytest.fail(f"import loop: {' -> '.join(error.args[1])}")


def test_imports_flow_one_way():
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if layer(target) not in ALLOWED[layer(module)]
        and not (layer(module) == "sandbox" and target in SANDBOX_MAY_USE)
    )
    assert not wrong, "\n".join(wrong)


def test_a_loop_or_a_wrong_way_import_would_be_caught():
    """The checks on a graph with a planted loop and a vendor importing the sandbox."""
    planted = {module: set(targets) for module, targets in GRAPH.items()}
    planted["tap_perfreports.windows"].add("tap_perfreports.streams")
    with pytest.raises(graphlib.CycleError):
        graphlib.TopologicalSorter(planted).prepare()
    assert (
        layer("tap_perfreports.sandbox.plumvoice")
        not in ALLOWED[layer("tap_perfreports.vendors.plumvoice")]
    )


def test_the_tap_loads_no_emulator_unless_the_sandbox_is_on():
    code = (
        "import sys, tap_perfreports.tap; "
        "print(sorted(m for m in sys.modules if m.startswith('tap_perfreports.sandbox')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
