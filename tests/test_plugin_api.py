"""The public plugin API: its exports are pinned, the first-party plugins use nothing else, and the guide
covers every hook."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pluggy

from sfjwt_vault import hookspecs, plugin_api

REPO = Path(__file__).resolve().parent.parent


def test_exported_members() -> None:
    """Every public name, and nothing else: adding or removing one is an API change (docs/plugins.md)."""
    exported = {name for name in dir(plugin_api) if not name.startswith("_")} - {"annotations", "TYPE_CHECKING", "Any"}
    assert sorted(plugin_api.__all__) == sorted(exported)
    assert sorted(plugin_api.__all__) == [
        "AccessToken",
        "CacheKey",
        "ConfigurationError",
        "DEFAULT_LEASE_TTL",
        "ExchangeFailed",
        "KeyBackendError",
        "KeyFormatError",
        "KeyProblem",
        "KeyRef",
        "MAX_KEY_BYTES",
        "PluginError",
        "SecretBuffer",
        "SfjwtError",
        "SharedCache",
        "Signer",
        "Stored",
        "TokenIssued",
        "TransientError",
        "fingerprint",
        "has_dot_segment",
        "hookimpl",
        "is_loopback",
        "key_hash",
        "lease_seconds",
        "quiet_sdk_logs",
        "scrub",
        "timeout_seconds",
        "token_from_bytes",
        "token_to_bytes",
        "wipe",
        "wipe_received_bytes",
    ]
    for name in plugin_api.__all__:
        assert getattr(plugin_api, name) is not None
    assert isinstance(plugin_api.hookimpl, pluggy.HookimplMarker)


def test_importing_the_api_does_not_load_the_shared_cache_or_asyncio() -> None:
    code = (
        "import sys\n"
        "from sfjwt_vault.plugin_api import KeyRef, SecretBuffer, hookimpl\n"
        "print('sfjwt_vault.shared_cache' in sys.modules, 'asyncio' in sys.modules)\n"
        "from sfjwt_vault.plugin_api import Stored, key_hash\n"
        "print('sfjwt_vault.shared_cache' in sys.modules, Stored.__module__)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.stdout.split("\n")[:2] == ["False False", "True sfjwt_vault.shared_cache"], result.stderr


def _core_imports(path: Path) -> list[str]:
    """Every `sfjwt_vault...` module a file imports (top level or inside functions)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return [name for name in found if name == "sfjwt_vault" or name.startswith("sfjwt_vault.")]


def test_first_party_plugins_import_only_the_public_api() -> None:
    example = REPO / "examples" / "sfjwt-vault-envkey" / "sfjwt_vault_envkey"
    sources = sorted((REPO / "plugins").rglob("*.py")) + sorted(example.rglob("*.py"))
    assert len(sources) > 10
    offenders = {
        str(path.relative_to(REPO)): outside
        for path in sources
        if (outside := [m for m in _core_imports(path) if m != "sfjwt_vault.plugin_api"])
    }
    assert offenders == {}


def test_the_guide_has_a_section_for_every_hook() -> None:
    guide = (REPO / "docs" / "plugins.md").read_text()
    hooks = sorted(name for name in dir(hookspecs) if name.startswith("sfjwt_"))
    assert len(hooks) == 10
    for hook in hooks:
        assert f"### `{hook}" in guide, hook
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Writing a custom backend", 1)[1].split("\n## ", 1)[0]
    assert "docs/plugins.md" in section
    for hook in hooks:
        assert hook in section or hook in ("sfjwt_schemes", "sfjwt_fetch_key"), hook
