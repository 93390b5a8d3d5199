"""The wheel must ship every subpackage and the bundled specs (pyproject lists them explicitly)."""

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def test_every_subpackage_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "symbp").rglob("__init__.py")}
    missing = found - listed
    assert not missing, f"add these packages to [tool.setuptools] packages: {sorted(missing)}"
    assert config["package-dir"]["symbp.bundled"] == "derivations"


def test_bundled_specs_load_by_name():
    from symbp.spec import bundled_spec_names, load_spec

    names = bundled_spec_names()
    assert {p.stem for p in (ROOT / "derivations").glob("*.toml")} == set(names)
    for name in names:
        assert load_spec(name).name == name
