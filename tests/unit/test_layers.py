"""The layers point one way (the README's diagram, here as the table ``ALLOWED``): each top-level
package imports only those below it, not directly, not inside a function, not through
``importlib`` or ``__import__``. The kernel (``picadaily/``) imports nothing above it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KERNEL = ROOT / "picadaily"
ABOVE = ("infra", "functions", "services", "workflow", "frontend", "bench", "harness", "cli",
         "tests")
# What each top-level package may import of ours. ``cli`` starts every component by its module
# name (``cli.components``: a computed import), so it is the one allowed that.
ALLOWED: dict[str, set[str]] = {
    "picadaily": set(),
    "infra": {"picadaily"},
    "services": {"picadaily"},
    "workflow": {"picadaily"},
    "frontend": {"picadaily"},
    "functions": {"picadaily", "workflow"},  # the trigger starts the workflow (its client)
    "cli": {"picadaily", "infra", "<computed>"},
    "harness": {"picadaily", "cli", "infra"},  # the stack in a child process, as a user starts it
    "bench": {"picadaily", "harness", "cli", "services"},  # (the raw cost: cores called directly)
}


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


def upward_imports(folder: Path, allowed: set[str] | None = None) -> list[str]:
    """Imports of our packages (other than ``folder``'s own) that ``allowed`` does not name."""
    allowed = set() if allowed is None else allowed
    bad = []
    for path in sorted(folder.rglob("*.py")):
        for line, module in _imports(ast.parse(path.read_text(), str(path))):
            top = module.split(".")[0]
            if top == folder.name or top not in (*ABOVE, "picadaily", "<computed>"):
                continue
            if top not in allowed:
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


def test_every_package_imports_only_the_layers_below_it() -> None:
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()} - {"tests"}
    assert packages == set(ALLOWED), "a new top-level package needs its place in ALLOWED"
    bad = [b for name, allowed in ALLOWED.items() for b in upward_imports(ROOT / name, allowed)]
    assert bad == []


def test_the_product_web_app_loads_the_lab_only_when_it_is_on() -> None:
    import subprocess
    import sys

    code = ("import sys; from frontend.app import create_app; from picadaily.settings import "
            "Settings; create_app(Settings(lab=False)); "
            "print('frontend.lab_scenarios' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"
