"""The layering of the package, enforced on the source by parsing every import (also the ones
inside functions): theory ← solvers ← experiments ← figures, and the root `lnsgd` (version,
command line) on top of all of them.

- theory/ imports nothing of the package but theory;
- solvers/ imports only solvers (the generated kernels live there);
- figures/ never imports solvers;
- no layer imports the package root `lnsgd`, `lnsgd.cli` or `lnsgd.commands`.
"""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("theory", "solvers", "experiments", "figures")
ALLOWED = {"theory": ("lnsgd.theory",), "solvers": ("lnsgd.solvers",)}
FORBIDDEN = {"figures": ("lnsgd.solvers",)}
TOP = ("lnsgd.cli", "lnsgd.commands")


def package_imports(path: Path, layer: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import of the lnsgd package in `path`."""
    module = ".".join(("lnsgd", layer, *path.relative_to(ROOT / layer).with_suffix("").parts))
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module.removesuffix(".__init__")
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            found += [(node.lineno, f"{name}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name == "lnsgd" or name.startswith("lnsgd.")]


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(layer: str) -> list[str]:
    bad = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        for line, name in package_imports(path, layer):
            where = f"{path.relative_to(ROOT)}:{line} imports {name}"
            if name == "lnsgd" or name == "lnsgd.__version__" or _within(name, TOP):
                bad.append(f"{where} (the package root / command line sits above every layer)")
            elif layer in ALLOWED and not _within(name, ALLOWED[layer]):
                bad.append(f"{where} ({layer}/ may import only {', '.join(ALLOWED[layer])})")
            elif _within(name, FORBIDDEN.get(layer, ())):
                bad.append(f"{where} ({layer}/ must not import {', '.join(FORBIDDEN[layer])})")
    return bad


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_imports_only_what_it_may(layer):
    assert violations(layer) == []


def test_the_checker_sees_relative_and_local_imports(tmp_path, monkeypatch):
    fake = tmp_path / "solvers"
    fake.mkdir()
    (fake / "bad.py").write_text("from ..experiments import runner\n\ndef f():\n    import lnsgd.cli\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert [name for _, name in package_imports(fake / "bad.py", "solvers")] == [
        "lnsgd.experiments.runner",
        "lnsgd.cli",
    ]
    assert len(violations("solvers")) == 2
