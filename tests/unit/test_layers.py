"""The kernel (``picadaily/``) imports nothing above it: not directly, not inside a function,
not through ``importlib`` or ``__import__``."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KERNEL = ROOT / "picadaily"
ABOVE = ("infra", "functions", "services", "workflow", "frontend", "bench", "cli", "tests")


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in {"import_module", "__import__"}:
                arg = node.args[0] if node.args else None
                target = arg.value if isinstance(arg, ast.Constant) else "<computed>"
                found.append((node.lineno, str(target)))
    return found


def upward_imports(folder: Path) -> list[str]:
    bad = []
    for path in sorted(folder.rglob("*.py")):
        for line, module in _imports(ast.parse(path.read_text(), str(path))):
            top = module.split(".")[0]
            if top in ABOVE or module == "<computed>":
                bad.append(f"{path.relative_to(folder.parent)}:{line} imports {module}")
    return bad


def test_the_kernel_imports_nothing_above_it() -> None:
    assert upward_imports(KERNEL) == []


def test_the_walk_sees_every_kind_of_import(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        "import services.vision\n"
        "def f():\n    from workflow.inputs import PictureInput\n"
        "import importlib\nimportlib.import_module('infra.provision')\n"
        "__import__('frontend')\nimportlib.import_module(name)\n")
    assert [b.split(" imports ")[1] for b in upward_imports(tmp_path)] == [
        "services.vision", "workflow.inputs", "infra.provision", "frontend", "<computed>"]
