"""The plugin host: lazy entry points, the SFJWT_PLUGINS allow-list, failures, routing, events."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest
import sfjwt_vault_file

from sfjwt_vault import KeyRef, PluginError, SecretBuffer, UnknownSchemeError, hookimpl
from sfjwt_vault.plugins import PluginHost

REPO = Path(__file__).resolve().parent.parent


def run_python(code: str, env: dict[str, str] | None = None, **kwargs: object) -> subprocess.CompletedProcess[str]:
    import os

    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        check=False,
        **kwargs,  # type: ignore[call-overload]
    )


def test_import_loads_no_plugin_and_no_cloud_sdk() -> None:
    result = run_python(
        """
        import sys, sfjwt_vault
        print(sorted(m for m in ("sfjwt_vault_file", "boto3", "hvac", "botocore") if m in sys.modules))
        """
    )
    assert result.stdout.strip() == "[]", result.stderr


def test_entry_points_load_on_first_use() -> None:
    result = run_python(
        """
        import sys
        from sfjwt_vault.plugins import get_host
        host = get_host()
        before = "sfjwt_vault_file" in sys.modules
        schemes = host.schemes
        print(before, "sfjwt_vault_file" in sys.modules, schemes.get("file"))
        """
    )
    assert result.stdout.split() == ["False", "True", "file"], result.stderr


def test_allow_list_blocks_unlisted_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    host = PluginHost(allow="something-else")
    with pytest.raises(UnknownSchemeError) as info:
        host.owner(KeyRef.parse("file:/k.pem"))
    assert "SFJWT_PLUGINS" in (info.value.hint or "")
    assert host.plugins["file"].error and "not in SFJWT_PLUGINS" in host.plugins["file"].error


def test_allow_list_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SFJWT_PLUGINS", " file , other")
    host = PluginHost()
    assert host.allow_list == {"file", "other"}
    assert host.owner(KeyRef.parse("file:/k.pem")) == "file"


def test_unknown_first_party_scheme_names_the_extra() -> None:
    host = PluginHost(load_entry_points=False)
    host.register(sfjwt_vault_file, "file")
    for ref, extra in (("aws-sm:x", "aws"), ("aws-kms:alias/x", "aws"), ("vault:secret/x", "vault")):
        with pytest.raises(UnknownSchemeError) as info:
            host.owner(KeyRef.parse(ref))
        assert f"pip install 'sfjwt-vault[{extra}]'" in (info.value.hint or "")
        assert "installed schemes: file" in info.value.message


def test_unknown_third_party_scheme() -> None:
    host = PluginHost(load_entry_points=False)
    with pytest.raises(UnknownSchemeError, match="'gcp-sm'") as info:
        host.owner(KeyRef.parse("gcp-sm:projects/x"))
    assert "sfjwt plugins" in (info.value.hint or "")


def test_two_plugins_claiming_one_scheme_is_an_error() -> None:
    host = PluginHost(load_entry_points=False)
    host.register(sfjwt_vault_file, "file")
    impostor = types.SimpleNamespace(sfjwt_schemes=hookimpl(lambda: ["file"]))
    with pytest.raises(PluginError, match="both claim the 'file' scheme"):
        host.register(impostor, "impostor")
    assert host.owner(KeyRef.parse("file:/x")) == "file"


def test_only_the_owner_of_a_scheme_sees_the_reference(key_file: Path) -> None:
    seen: list[str] = []

    class Nosy:
        @hookimpl
        def sfjwt_schemes(self) -> list[str]:
            return ["nosy"]

        @hookimpl
        def sfjwt_fetch_key(self, ref: KeyRef) -> SecretBuffer | None:
            seen.append(str(ref))
            return None

    host = PluginHost(load_entry_points=False)
    host.register(Nosy(), "nosy")
    host.register(sfjwt_vault_file, "file")
    buffer = host.fetch_key(KeyRef.parse(f"file:{key_file}"))
    buffer.wipe()
    assert seen == []


def test_a_plugin_that_fails_to_import_is_named_and_others_still_load(tmp_path: Path) -> None:
    dist = tmp_path / "broken_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[sfjwt_vault]\nbroken = broken_plugin_mod\n")
    (tmp_path / "broken_plugin_mod.py").write_text("raise ImportError('needs a library that is missing')\n")
    result = run_python(
        """
        from sfjwt_vault.plugins import get_host
        host = get_host()
        print(host.schemes.get("file"))
        print(host.plugins["broken"].error)
        """,
        env={"PYTHONPATH": str(tmp_path)},
    )
    lines = result.stdout.splitlines()
    assert lines[0] == "file", result.stderr
    assert "broken_plugin_mod" in lines[1] and "needs a library that is missing" in lines[1]
    assert "plugin 'broken'" in result.stderr  # logged as a warning


def test_event_hooks_get_no_secret_and_a_failing_observer_is_contained() -> None:
    events: list[object] = []

    class Observer:
        @hookimpl
        def sfjwt_token_issued(self, event: object) -> None:
            events.append(event)

    class Broken:
        @hookimpl
        def sfjwt_token_issued(self, event: object) -> None:
            raise RuntimeError("observer bug")

    host = PluginHost(load_entry_points=False)
    host.register(Broken(), "broken")
    host.register(Observer(), "observer")
    host.notify("sfjwt_token_issued", event="payload")
    assert events == ["payload"]


def test_third_party_backend_is_discovered_through_its_entry_point(tmp_path: Path, rsa_key: object) -> None:
    """Install examples/sfjwt-vault-envkey like a user would and mint with its `env:` scheme."""
    target = tmp_path / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(REPO / "examples" / "sfjwt-vault-envkey"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    from tests.conftest import pem_of

    result = run_python(
        """
        from sfjwt_vault.plugins import get_host
        from sfjwt_vault.keys import open_signer
        host = get_host()
        info = host.plugins["envkey"]
        print(info.distribution, info.version, host.schemes["env"])
        with open_signer("env:SFJWT_TEST_PEM") as signer:
            print(len(signer.sign(b"hello")))
        """,
        env={"PYTHONPATH": str(target), "SFJWT_TEST_PEM": pem_of(rsa_key).decode()},  # type: ignore[arg-type]
    )
    assert result.stdout.split() == ["sfjwt-vault-envkey", "0.1.0", "envkey", "256"], result.stderr
