"""What the wheel and the sdist hold: every package (the core, the testing helpers, each first-party
plugin), py.typed, the entry points; nothing from tests/ in the wheel."""

from __future__ import annotations

import configparser
import tarfile
import zipfile
from pathlib import Path

from tests.packaging.conftest import ROOT, Dist

PACKAGES = {
    "sfjwt_vault": ROOT / "sfjwt_vault",
    "sfjwt_vault_file": ROOT / "plugins" / "sfjwt_vault_file",
    "sfjwt_vault_aws": ROOT / "plugins" / "sfjwt_vault_aws",
    "sfjwt_vault_hashicorp": ROOT / "plugins" / "sfjwt_vault_hashicorp",
}


def modules_in_tree() -> set[str]:
    return {
        f"{name}/{path.relative_to(folder).as_posix()}"
        for name, folder in PACKAGES.items()
        for path in folder.rglob("*.py")
        if "__pycache__" not in path.parts
    }


def test_the_wheel_holds_every_package_and_py_typed_and_no_tests(dist: Dist) -> None:
    names = set(zipfile.ZipFile(dist.wheel).namelist())
    assert modules_in_tree() <= names, sorted(modules_in_tree() - names)
    assert "sfjwt_vault/py.typed" in names
    assert not [n for n in names if n.startswith("tests/") or "/tests/" in n or n.split("/")[-1].startswith("test_")]
    assert not [n for n in names if n.startswith(("bench/", "examples/", "terraform/", "docs/"))]


def test_the_wheel_declares_the_command_and_the_plugins(dist: Dist) -> None:
    wheel = zipfile.ZipFile(dist.wheel)
    [entry_points] = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    parsed = configparser.ConfigParser()
    parsed.read_string(wheel.read(entry_points).decode())
    assert parsed["console_scripts"]["sfjwt"] == "sfjwt_vault.cli:main"
    assert {"file", "aws", "vault"} <= set(parsed["sfjwt_vault"])
    [metadata] = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    text = wheel.read(metadata).decode()
    for floor in ("certifi>=2024.7.4", "idna>=3.7", "cryptography>=46.0.5", "pyjwt>=2.12.0"):
        assert f"Requires-Dist: {floor}" in text, floor
    assert "Provides-Extra: aws" in text and "Provides-Extra: vault" in text


def test_the_sdist_builds_the_same_packages(dist: Dist) -> None:
    with tarfile.open(dist.sdist) as sdist:
        names = {Path(*Path(n).parts[1:]).as_posix() for n in sdist.getnames()}
    expected = {
        f"{'plugins/' if name != 'sfjwt_vault' else ''}{module}"
        for module in modules_in_tree()
        for name in [module.split("/")[0]]
    }
    assert expected <= names, sorted(expected - names)
    assert {"pyproject.toml", "README.md", "sfjwt_vault/py.typed"} <= names
