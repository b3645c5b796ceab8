"""The package's import structure: no circles, and arrows that only point back down the pipeline.

Read from the source with ``ast`` (nothing is imported), counting every
``import`` of an AloNet module, also those inside functions. The stage order
is documented in DEVELOPERS.md ("Layout").
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "alonet"

#: Pipeline stages, earliest first. A module may import modules of its own stage or an earlier one.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("alonet", "alonet.errors", "alonet.views", "alonet.system")),
    ("scoring", ("alonet.scoring",)),
    ("data", ("alonet.data",)),
    ("store", ("alonet.store",)),
    ("phantom", ("alonet.phantom",)),
    ("model", ("alonet.model",)),
    ("train", ("alonet.train",)),
    ("infer", ("alonet.infer",)),
    ("evaluate", ("alonet.evaluate",)),
    ("adapt", ("alonet.adapt",)),
    ("report", ("alonet.report",)),
    ("web", ("alonet.web",)),
    ("cli", ("alonet.cli", "alonet.__main__")),
)

#: Import circles known and owned elsewhere, each as the set of its modules. The test fails on
#: any other circle, and on an entry here that no longer exists (then delete the entry).
KNOWN_CYCLES: tuple[frozenset[str], ...] = ()


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package (packages by their __init__)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The AloNet modules that ``name`` imports anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            # `from alonet.web.routes import api` imports the submodule, not just the package.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # `import alonet.x.y` of a name inside a module
                target = target.rpartition(".")[0]
            if target and target != name and target.split(".")[0] == "alonet":
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def stage_of(module: str) -> int:
    best, best_len = None, -1
    for index, (_, prefixes) in enumerate(STAGES):
        for prefix in prefixes:
            matches = module == prefix or (prefix != "alonet" and module.startswith(prefix + "."))
            if matches and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    if best is None:
        raise AssertionError(f"{module} belongs to no stage; add it to STAGES and DEVELOPERS.md")
    return best


def find_cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The import circles: strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(frozenset(group))

    for start in sorted(graph):
        if start not in index:
            visit(start)
    return groups


def test_the_checker_sees_cycles_and_stage_breaks():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset("abc")]
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert stage_of("alonet.views") == 0 and stage_of("alonet") == 0
    assert stage_of("alonet.web.routes.api") > stage_of("alonet.infer.pipeline") > stage_of("alonet.model.io")
    graph = import_graph()
    # The walk finds imports inside functions and `from package import submodule`.
    assert "alonet.model.unet" in graph["alonet.infer.backends"]
    assert "alonet.web.routes.api" in graph["alonet.web.app"]
    assert "alonet.data.split" in graph["alonet.evaluate.evaluate"]


def test_no_import_cycle_in_the_package():
    cycles = find_cycles(import_graph())
    new = [sorted(c) for c in cycles if c not in KNOWN_CYCLES]
    assert not new, "import circle(s): " + "; ".join(" <-> ".join(c) for c in new)
    stale = [sorted(c) for c in KNOWN_CYCLES if c not in cycles]
    assert not stale, f"no longer a circle, delete it from KNOWN_CYCLES: {stale}"


def test_no_module_imports_a_later_pipeline_stage():
    bad = []
    for module, targets in sorted(import_graph().items()):
        for target in sorted(targets):
            if stage_of(target) > stage_of(module):
                bad.append(f"{module} ({STAGES[stage_of(module)][0]}) imports {target} "
                           f"({STAGES[stage_of(target)][0]})")
    assert not bad, "imports against the pipeline order:\n" + "\n".join(bad)


@pytest.mark.parametrize("code, absent", [
    ("from alonet.cli.main import main; main(['--help'])", ("torch", "numpy", "onnxruntime", "flask")),
    ("import alonet.infer, alonet.web, alonet.evaluate, alonet.report", ("torch", "onnxruntime")),
])
def test_light_entry_points_do_not_import_heavy_libraries(code, absent):
    script = f"import sys\n{code}\nprint(sorted(m for m in {absent!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(SRC)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]", result.stdout


def test_the_developers_layout_names_every_module():
    """DEVELOPERS.md's Layout is where a new contributor looks for a module: a module it does not
    name is one they will not find (a design review found 42 missing, thirty-fourth session).
    Each module's ``name.py`` must appear in its top-level package's block of the Layout."""
    import re

    root = Path(__file__).resolve().parents[1]
    text = (root / "DEVELOPERS.md").read_text(encoding="utf-8")
    layout = text[text.index("## Layout"):text.index("**Import order.**")]
    blocks: dict[str, str] = {}
    current = None
    for line in layout.splitlines():
        head = re.match(r"  (\w+(?:\.py)?)/?\s", line)
        if head and not line.startswith("   "):
            current = head.group(1)
            blocks[current] = ""
        if current is not None:
            blocks[current] += line + "\n"
    package = root / "src" / "alonet"
    missing = []
    for path in sorted(package.rglob("*.py")):
        if path.name in ("__init__.py", "__main__.py"):
            continue
        parts = path.relative_to(package).parts
        block = blocks.get(parts[0] if len(parts) > 1 else parts[0], "")
        if not re.search(rf"(?<![\w/]){re.escape(path.stem)}\.py\b", block):
            missing.append("/".join(parts))
    assert missing == []
