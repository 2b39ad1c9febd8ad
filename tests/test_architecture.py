"""The layout rules of the design card."""

import ast
from pathlib import Path

import symcl

CORE = Path(symcl.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_core_never_imports_domains():
    offenders = {
        str(path.relative_to(CORE)): sorted(
            m for m in _imported_modules(path) if m == "domains" or m.startswith(("domains.", "symcl.domains"))
        )
        for path in CORE.rglob("*.py")
    }
    offenders = {path: mods for path, mods in offenders.items() if mods}
    assert offenders == {}


def test_domains_import_as_subpackages_of_symcl():
    from symcl.domains import crystal, dna, protein

    for module in (crystal, dna, protein):
        assert module.__name__.startswith("symcl.domains.")


def test_checker_sees_a_domain_import(tmp_path):
    # The scanner itself must be able to fail.
    bad = tmp_path / "bad.py"
    bad.write_text("from symcl.domains import dna\nimport domains.crystal\n")
    assert {"symcl.domains", "domains.crystal"} <= _imported_modules(bad)
