"""The plugin host: lazy routing by declared schemes, the SFJWT_PLUGINS allow-list, scheme ownership
against impostors (real `*.dist-info` folders on PYTHONPATH), missing extras, failures and events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tomllib
import types
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sfjwt_vault_file

from sfjwt_vault import ConfigurationError, KeyRef, PluginError, SecretBuffer, UnknownSchemeError, hookimpl
from sfjwt_vault.errors import MissingExtraError, SchemeConflictError
from sfjwt_vault.plugin_index import GROUPS, scan
from sfjwt_vault.plugin_policy import FIRST_PARTY_CACHE_SCHEMES, FIRST_PARTY_SCHEMES, AllowList
from sfjwt_vault.plugins import PluginHost

REPO = Path(__file__).resolve().parent.parent
MARKER_ENV = "SFJWT_TEST_IMPORT_MARKER"


def run_python(
    code: str, env: dict[str, str] | None = None, argv: tuple[str, ...] = (), **kwargs: object
) -> subprocess.CompletedProcess[str]:
    full_env = {name: value for name, value in os.environ.items() if name != "SFJWT_PLUGINS"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *argv],
        capture_output=True,
        text=True,
        env=full_env,
        check=False,
        timeout=120,
        **kwargs,  # type: ignore[call-overload]
    )


def make_dist(
    site: Path,
    name: str,
    entry_points: str,
    modules: dict[str, str] | None = None,
    *,
    version: str = "1.0",
    folder: str | None = None,
    metadata: str = "",
    record: str | None = None,
) -> Path:
    """A real installed distribution: `<name>-<version>.dist-info` (METADATA, entry_points.txt) + modules."""
    info = site / (folder or f"{name.replace('-', '_')}-{version}.dist-info")
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{metadata}\nlong text\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    if record is not None:
        (info / "RECORD").write_text(record)
    for module, source in (modules or {}).items():
        path = site / (module.replace(".", "/") + ".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return info


def marker_module(tag: str, body: str = "") -> str:
    """Source of a plugin module that records being imported (so a test sees whether it ran)."""
    return (
        "import os\n"
        f"open(os.environ['{MARKER_ENV}'], 'a').write('{tag}\\n')\n"
        "from sfjwt_vault import hookimpl, SecretBuffer, KeyRef\n" + textwrap.dedent(body)
    )


def imported(marker: Path) -> list[str]:
    return marker.read_text().split() if marker.exists() else []


ROUTE = """
import sys
from sfjwt_vault.plugins import get_host
from sfjwt_vault.keyref import KeyRef
for ref in sys.argv[1:]:
    try:
        print(get_host().owner(KeyRef.parse(ref)))
    except Exception as exc:
        print(type(exc).__name__, exc.exit_code, exc.message, "|", exc.hint)
"""


def route(path: Path, marker: Path, *refs: str, allow: str | None = None) -> list[str]:
    """In a fresh interpreter with `path` on PYTHONPATH: the plugin serving each reference, or the error."""
    env = {"PYTHONPATH": str(path), MARKER_ENV: str(marker)}
    if allow is not None:
        env["SFJWT_PLUGINS"] = allow
    result = run_python(ROUTE, env, refs)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@pytest.fixture
def site(tmp_path: Path) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    return folder


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "imported.txt"


FETCH_FILE = """
    import sys
    from sfjwt_vault.plugins import get_host
    from sfjwt_vault.keyref import KeyRef
    buffer = get_host().fetch_key(KeyRef.parse("file:{key}"))
    print("fetched", len(buffer) > 0)
    buffer.wipe()
    print("own file plugin", "sfjwt_vault_file" in sys.modules)
"""

EVIL_FETCH = """
    @hookimpl
    def sfjwt_schemes():
        return ["file"]

    @hookimpl
    def sfjwt_fetch_key(ref):
        print("EVIL got", ref)
        return SecretBuffer.from_buffer(bytearray(b"evil"))
"""


def sfjwt(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = f"import sys; from sfjwt_vault.cli import main; sys.exit(main({list(args)!r}))"
    return run_python(code, env)


# -- routing: metadata first, only the owner is imported -----------------------------------------------


def test_import_loads_no_plugin_and_no_cloud_sdk() -> None:
    result = run_python(
        """
        import sys, sfjwt_vault
        print(sorted(m for m in ("sfjwt_vault_file", "boto3", "hvac", "botocore") if m in sys.modules))
        """
    )
    assert result.stdout.strip() == "[]", result.stderr


def test_only_the_owning_plugin_is_imported_for_a_file_token(tmp_path: Path) -> None:
    """A whole first token from a `file:` key, against the emulator, in a fresh interpreter."""
    result = run_python(
        f"""
        import os, sys
        from cryptography.hazmat.primitives import serialization
        from sfjwt_vault import Credentials
        from sfjwt_vault.testing import SalesforceEmulator, make_test_keypair
        key, cert = make_test_keypair()
        path = {str(tmp_path / "k.pem")!r}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
        os.close(fd)
        with SalesforceEmulator() as emulator:
            app = emulator.add_app(cert)
            emulator.add_user("u@acme.com")
            with Credentials(app.consumer_key, "u@acme.com", "file:" + path, audience=emulator.audience,
                             token_url=emulator.token_url) as creds:
                creds.get_token()
            print("tokens", emulator.tokens_issued)
        plugins = sorted(m for m in sys.modules if m.startswith("sfjwt_vault_"))
        print("plugins", plugins)
        sdks = sorted(m for m in ("boto3", "botocore", "hvac", "requests") if m in sys.modules)
        print("sdks", sdks, "metadata", "importlib.metadata" in sys.modules)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "tokens 1" in result.stdout
    assert "plugins ['sfjwt_vault_file']" in result.stdout
    assert "sdks [] metadata False" in result.stdout  # routing reads the metadata without importlib.metadata


def test_schemes_come_from_metadata_without_importing() -> None:
    result = run_python(
        """
        import sys
        from sfjwt_vault.plugins import get_host
        host = get_host()
        print(host.schemes["aws-kms"], host.schemes["vault-transit"], host.cache_schemes["dynamodb"])
        print(sorted(m for m in sys.modules if m.startswith("sfjwt_vault_")))
        """
    )
    assert result.stdout.split("\n")[:2] == ["aws vault aws", "[]"], result.stderr


def test_the_index_reads_what_importlib_metadata_reads(site: Path) -> None:
    import importlib.metadata

    make_dist(site, "acme-keys", "[sfjwt_vault]\nacme = acme_keys [cloud]\n[sfjwt_vault.schemes]\nacme = acme_keys\n")
    path = [str(site), *sys.path]
    ours = {
        (dist.name, group, ep.name, ep.value)
        for dist in scan(path).distributions
        for group, eps in dist.groups.items()
        for ep in eps
    }
    theirs = {
        (dist.metadata["Name"], ep.group, ep.name, ep.value)
        for dist in importlib.metadata.distributions(path=path)
        for ep in dist.entry_points
        if ep.group in GROUPS
    }
    assert ours == theirs
    assert ("acme-keys", "sfjwt_vault", "acme", "acme_keys [cloud]") in ours


def test_a_plugin_in_a_zip_on_the_path_is_found(tmp_path: Path, marker: Path) -> None:
    archive = tmp_path / "plugins.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("zipkeys-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: zipkeys\nVersion: 1.0\n")
        zf.writestr(
            "zipkeys-1.0.dist-info/entry_points.txt",
            "[sfjwt_vault]\nzk = zipkeys_mod\n[sfjwt_vault.schemes]\nzk = zipkeys_mod\n",
        )
        zf.writestr(
            "zipkeys_mod.py",
            marker_module(
                "zipkeys",
                """
                @hookimpl
                def sfjwt_schemes():
                    return ["zk"]
                """,
            ),
        )
    assert route(archive, marker, "zk:x") == ["zipkeys:zk"]
    assert imported(marker) == ["zipkeys"]


def test_a_plugin_that_declares_nothing_is_imported_at_first_use(site: Path, marker: Path) -> None:
    make_dist(
        site,
        "legacy-keys",
        "[sfjwt_vault]\nlegacy = legacy_mod\n",
        {"legacy_mod": marker_module("legacy", "@hookimpl\ndef sfjwt_schemes():\n    return ['legacy']\n")},
    )
    assert route(site, marker, "legacy:x", "file:/k") == ["legacy-keys:legacy", "file"]
    assert imported(marker) == ["legacy"]


def test_metadata_and_hooks_must_agree(site: Path, marker: Path) -> None:
    make_dist(
        site,
        "liar",
        "[sfjwt_vault]\nliar = liar_mod\n[sfjwt_vault.schemes]\nsays = liar_mod\n",
        {"liar_mod": marker_module("liar", "@hookimpl\ndef sfjwt_schemes():\n    return ['says', 'file']\n")},
    )
    refused, own = route(site, marker, "says:x", "file:/k")
    assert refused.startswith("PluginError 2 the 'liar:liar' plugin (distribution liar 1.0) cannot be used: ")
    assert "declares schemes ['says'] and cache schemes [] in its entry points" in refused
    assert "but its hooks answer ['says', 'file'] and []" in refused
    assert own == "file"


def test_first_party_tables_match_pyproject() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]
    plugins = project["sfjwt_vault"]
    modules = {module: name for name, module in plugins.items()}
    schemes = {scheme: modules[module] for scheme, module in project["sfjwt_vault.schemes"].items()}
    caches = {scheme: modules[module] for scheme, module in project["sfjwt_vault.cache_schemes"].items()}
    extras = {modules[module]: extra for extra, module in project["sfjwt_vault.extras"].items()}
    assert schemes == {scheme: own for scheme, (own, _) in FIRST_PARTY_SCHEMES.items()}
    assert caches == {scheme: own for scheme, (own, _) in FIRST_PARTY_CACHE_SCHEMES.items()}
    for table in (FIRST_PARTY_SCHEMES, FIRST_PARTY_CACHE_SCHEMES):
        assert {own: extra for own, extra in table.values() if extra} == {
            own: extras[own] for own, _ in table.values() if own in extras
        }


# -- the allow-list and scheme ownership -----------------------------------------------------------


def test_allow_list_syntax() -> None:
    allow = AllowList.parse(" file , Acme_Keys:acme, sfjwt-vault:aws, vault-transit=Other.Dist:transit ,")
    assert allow.plugins == {"file", "acme-keys:acme", "aws", "other-dist:transit"}
    assert allow.assignments == {"vault-transit": "other-dist:transit"}
    for bad in ("a:b:c", "=x", "file=", "x y", "vault=a:b,vault=c:d"):
        with pytest.raises(ConfigurationError):
            AllowList.parse(bad)


def test_allow_list_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SFJWT_PLUGINS", " file , other")
    host = PluginHost()
    assert host.allow_list is not None and host.allow_list.plugins == {"file", "other"}
    assert host.owner(KeyRef.parse("file:/k.pem")) == "file"
    assert host.unknown_allowed() == ["other"]


def test_allow_list_blocks_unlisted_plugins() -> None:
    host = PluginHost(allow="aws")
    with pytest.raises(UnknownSchemeError, match="installed but not allowed by SFJWT_PLUGINS") as info:
        host.owner(KeyRef.parse("file:/k.pem"))
    assert info.value.hint == "add file to SFJWT_PLUGINS (now 'aws')"
    assert host.plugins["file"].error == "not allowed: not in SFJWT_PLUGINS"


@pytest.mark.parametrize("allow", [None, "file"])
def test_an_entry_point_named_file_from_another_distribution_never_serves_file(
    site: Path, marker: Path, key_file: Path, allow: str | None
) -> None:
    make_dist(
        site,
        "evil-keys",
        "[sfjwt_vault]\nfile = evil_file\n[sfjwt_vault.schemes]\nfile = evil_file\n",
        {"evil_file": marker_module("evil", EVIL_FETCH)},
    )
    env = {"PYTHONPATH": str(site), MARKER_ENV: str(marker)}
    if allow is not None:
        env["SFJWT_PLUGINS"] = allow
    result = run_python(FETCH_FILE.format(key=key_file), env)
    assert result.stdout.split("\n")[:2] == ["fetched True", "own file plugin True"], result.stderr
    assert "EVIL" not in result.stdout and imported(marker) == []
    listing = sfjwt("plugins", "--format", "json", env=env)
    rows = {row["name"]: row for row in json.loads(listing.stdout)}
    assert rows["file"]["distribution"] == "sfjwt-vault" and rows["file"]["first_party"]
    assert rows["evil-keys:file"]["distribution"] == "evil-keys"
    if allow is None:  # it claims sfjwt-vault's scheme: refused, and `sfjwt plugins` says so
        assert rows["evil-keys:file"]["status"].startswith("refused: it claims sfjwt-vault's own key scheme file:")
        assert listing.returncode == 2 and "file=evil-keys:file" in listing.stderr
    else:
        assert rows["evil-keys:file"]["status"] == "not allowed: not in SFJWT_PLUGINS"
        assert listing.returncode == 0, listing.stderr
    assert imported(marker) == []


def test_a_plugin_that_claims_file_only_when_imported_is_refused(site: Path, marker: Path, key_file: Path) -> None:
    """No metadata: the host learns the claim at import, then refuses the plugin; `file:` stays ours."""
    make_dist(
        site, "sneaky", "[sfjwt_vault]\nsneaky = sneaky_mod\n", {"sneaky_mod": marker_module("sneaky", EVIL_FETCH)}
    )
    env = {"PYTHONPATH": str(site), MARKER_ENV: str(marker)}
    result = run_python(FETCH_FILE.format(key=key_file), env)
    assert result.stdout.split("\n")[:2] == ["fetched True", "own file plugin True"], result.stderr
    assert "EVIL" not in result.stdout
    assert "refused: it claims sfjwt-vault's own key scheme file:" in result.stderr  # logged
    listing = sfjwt("plugins", env=env)
    assert listing.returncode == 2 and "sneaky:sneaky" in listing.stderr


@pytest.mark.parametrize("allow", [None, "file"])
@pytest.mark.parametrize("folder", ["sfjwt_vault-9.9.dist-info", "sfjwt_vault-0.1.0.dist-info"])
def test_a_folder_calling_itself_sfjwt_vault_is_not_sfjwt_vault(
    site: Path, marker: Path, key_file: Path, allow: str | None, folder: str
) -> None:
    """An impostor metadata folder named like ours (even listing our package in RECORD) is refused."""
    make_dist(
        site,
        "sfjwt-vault",
        "[sfjwt_vault]\nfile = evil_file\n[sfjwt_vault.schemes]\nfile = evil_file\n",
        {"evil_file": marker_module("evil", EVIL_FETCH)},
        version=folder.split("-")[1].removesuffix(".dist-info"),
        folder=folder,
        record="sfjwt_vault/__init__.py,,\nevil_file.py,,\n",
    )
    env = {"PYTHONPATH": str(site), MARKER_ENV: str(marker)}
    if allow is not None:
        env["SFJWT_PLUGINS"] = allow
    result = run_python(FETCH_FILE.format(key=key_file), env)
    assert result.stdout.split("\n")[:2] == ["fetched True", "own file plugin True"], result.stderr
    assert "EVIL" not in result.stdout and imported(marker) == []
    listing = sfjwt("plugins", "--format", "json", env=env)
    rows = {row["name"]: row for row in json.loads(listing.stdout)}
    assert rows["file"]["module"] == "sfjwt_vault_file" and rows["file"]["status"] == "loaded"
    impostor = rows["sfjwt-vault:file"]
    assert impostor["status"].startswith("refused: its metadata") and str(site) in impostor["status"]
    assert listing.returncode == 2
    assert imported(marker) == []


def test_a_shadowed_first_party_module_is_refused(site: Path, marker: Path, key_file: Path) -> None:
    """sfjwt-vault's own plugin is imported only from the files its installation wrote."""
    (site / "sfjwt_vault_file").mkdir()
    (site / "sfjwt_vault_file" / "__init__.py").write_text(marker_module("shadow", EVIL_FETCH))
    result = run_python(
        FETCH_FILE.format(key=key_file),
        {"PYTHONPATH": str(site), MARKER_ENV: str(marker)},
    )
    assert result.returncode != 0 and "EVIL" not in result.stdout
    assert "PluginError" in result.stderr and "refused: module sfjwt_vault_file is found at" in result.stderr
    assert str(site) in result.stderr
    assert imported(marker) == []


CLAIMS_GCP = """
    @hookimpl
    def sfjwt_schemes():
        return ["gcp"]

    @hookimpl
    def sfjwt_fetch_key(ref):
        print("served by {tag}")
        return SecretBuffer.from_buffer(bytearray(b"x"))
"""


def two_gcp_plugins(site: Path) -> None:
    for tag in ("a", "b"):
        make_dist(
            site,
            f"acme-{tag}",
            f"[sfjwt_vault]\ngcp = gcp_{tag}\n[sfjwt_vault.schemes]\ngcp = gcp_{tag}\n",
            {f"gcp_{tag}": marker_module(tag, CLAIMS_GCP.format(tag=tag))},
            version=f"{tag}.1".replace("a", "1").replace("b", "2"),
        )


def test_two_plugins_claiming_one_scheme_is_an_error_naming_both(site: Path, marker: Path) -> None:
    two_gcp_plugins(site)
    env = {"PYTHONPATH": str(site), MARKER_ENV: str(marker)}
    result = sfjwt("cert", "--key", "gcp:projects/x", env=env)
    assert result.returncode == 2, result.stderr
    assert "error: plugins 'acme-a:gcp' (distribution acme-a 1.1) and 'acme-b:gcp' (distribution acme-b 2.1)" in (
        result.stderr
    )
    assert "both claim the 'gcp' key scheme" in result.stderr
    assert "hint: uninstall all but one, or choose one in SFJWT_PLUGINS, e.g. gcp=acme-a:gcp" in result.stderr
    assert "unexpected" not in result.stderr and imported(marker) == []
    listing = sfjwt("plugins", env=env)
    assert listing.returncode == 2 and "both claim the 'gcp' key scheme" in listing.stderr
    [library] = route(site, marker, "gcp:x")
    assert library.startswith("SchemeConflictError 2 plugins 'acme-a:gcp'")


def test_the_allow_list_chooses_who_serves_a_contested_scheme(site: Path, marker: Path) -> None:
    two_gcp_plugins(site)
    result = run_python(
        """
        from sfjwt_vault.plugins import get_host
        from sfjwt_vault.keyref import KeyRef
        get_host().fetch_key(KeyRef.parse("gcp:x")).wipe()
        """,
        {"PYTHONPATH": str(site), MARKER_ENV: str(marker), "SFJWT_PLUGINS": "file,gcp=acme-b:gcp,acme-a:gcp"},
    )
    assert result.stdout.strip() == "served by b", result.stderr
    assert imported(marker) == ["b"]


def test_another_distribution_serves_file_only_when_given_it(site: Path, marker: Path, key_file: Path) -> None:
    make_dist(
        site,
        "acme-files",
        "[sfjwt_vault]\nfile = acme_file\n[sfjwt_vault.schemes]\nfile = acme_file\n",
        {"acme_file": marker_module("acme", EVIL_FETCH)},
    )
    result = run_python(
        FETCH_FILE.format(key=key_file),
        {"PYTHONPATH": str(site), MARKER_ENV: str(marker), "SFJWT_PLUGINS": "file=acme-files:file"},
    )
    assert result.stdout.startswith("EVIL got file:"), result.stderr
    assert "own file plugin False" in result.stdout and imported(marker) == ["acme"]


def test_installed_but_not_allowed_says_so(tmp_path: Path) -> None:
    target = install_envkey(tmp_path)
    for allow, extra in (("file", ""), ("file,envkey", " (bare names mean sfjwt-vault's own plugins)")):
        result = sfjwt("cert", "--key", "env:SF_KEY", env={"PYTHONPATH": str(target), "SFJWT_PLUGINS": allow})
        assert result.returncode == 2
        assert (
            "error: the 'env' key scheme is served by the plugin 'sfjwt-vault-envkey:envkey' (distribution "
            f"sfjwt-vault-envkey 0.1.0), which is installed but not allowed by SFJWT_PLUGINS{extra}"
        ) in result.stderr
        assert f"hint: add sfjwt-vault-envkey:envkey to SFJWT_PLUGINS (now {allow!r})" in result.stderr
        assert "no installed plugin serves" not in result.stderr


# -- typos, extras -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typo", "meant"), [("fiel", "file"), ("vualt", "vault"), ("awssm", "aws-sm"), ("valut-transit", "vault-transit")]
)
def test_scheme_typos_get_a_suggestion(typo: str, meant: str) -> None:
    host = PluginHost()
    with pytest.raises(UnknownSchemeError) as info:
        host.owner(KeyRef.parse(f"{typo}:prod/x"))
    assert info.value.message.endswith(f"did you mean `{meant}:`?")


def test_unknown_first_party_scheme_names_the_extra() -> None:
    host = PluginHost(load_entry_points=False)
    host.register(sfjwt_vault_file, "file")
    for ref, extra in (("aws-sm:x", "aws"), ("aws-kms:alias/x", "aws"), ("vault:secret/x", "vault")):
        with pytest.raises(UnknownSchemeError) as info:
            host.owner(KeyRef.parse(ref))
        assert info.value.hint == f"pip install 'sfjwt-vault[{extra}]'"
        assert "installed: file" in info.value.message


def test_unknown_third_party_scheme() -> None:
    host = PluginHost(load_entry_points=False)
    with pytest.raises(UnknownSchemeError, match="'gcp-sm'") as info:
        host.owner(KeyRef.parse("gcp-sm:projects/x"))
    assert "sfjwt plugins" in (info.value.hint or "")


def test_a_third_party_plugin_missing_its_extra_is_not_imported(
    site: Path, marker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both ways to declare the extra: the `sfjwt_vault.extras` group and `[extra]` on the entry point."""
    requires = 'Requires-Dist: sfjwt-test-absent-sdk>=1; extra == "cloud"\nRequires-Dist: pluggy; extra == "cloud"'
    make_dist(
        site,
        "acme-cloud",
        "[sfjwt_vault]\nacme = acme_cloud\n[sfjwt_vault.schemes]\nacme = acme_cloud\n"
        "[sfjwt_vault.extras]\ncloud = acme_cloud\n",
        {"acme_cloud": marker_module("acme")},
        metadata=requires,
    )
    make_dist(
        site,
        "beta-cloud",
        "[sfjwt_vault]\nbeta = beta_cloud:plugin [Cloud]\n[sfjwt_vault.schemes]\nbeta = beta_cloud:plugin\n",
        {"beta_cloud": marker_module("beta")},
        metadata=requires,
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv(MARKER_ENV, str(site / "marker"))
    host = PluginHost()
    for scheme, dist in (("acme", "acme-cloud"), ("beta", "beta-cloud")):
        with pytest.raises(MissingExtraError) as info:
            host.owner(KeyRef.parse(f"{scheme}:x"))
        assert "needs the [cloud] extra (sfjwt-test-absent-sdk not installed)" in info.value.message
        assert info.value.hint == f"pip install '{dist}[cloud]'"
        assert info.value.exit_code == 2
    assert not (site / "marker").exists()


def _plain_site(tmp_path: Path) -> Path:
    """A site folder like a plain `pip install sfjwt-vault`: everything installed here but the extras."""
    import sysconfig

    installed = Path(sysconfig.get_paths()["purelib"])
    absent = ("boto3", "botocore", "s3transfer", "hvac", "requests", "urllib3")
    plain = tmp_path / "plain-site"
    plain.mkdir()
    for entry in installed.iterdir():
        lowered = entry.name.lower()
        if (
            lowered.startswith(absent)
            or lowered.startswith(("__editable__", "sfjwt_vault"))
            or lowered.endswith(".pth")
        ):
            continue
        (plain / entry.name).symlink_to(entry)
    own = next(installed.glob("sfjwt_vault-*.dist-info"))
    (plain / own.name).symlink_to(own)
    (plain / "sfjwt_vault").symlink_to(REPO / "sfjwt_vault")
    for package in (REPO / "plugins").iterdir():
        if package.name.startswith("sfjwt_vault_"):
            (plain / package.name).symlink_to(package)
    return plain


BLOCK_SDKS = """
import sys
class _Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"boto3", "botocore", "hvac"}:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
        return None
sys.meta_path.insert(0, _Blocked())
"""


def test_a_plain_install_without_extras(tmp_path: Path) -> None:
    """No boto3/hvac on the path (and their import blocked): typed errors naming the extra, not crashes."""
    plain = _plain_site(tmp_path)
    code = BLOCK_SDKS + textwrap.dedent(
        """
        import json
        from sfjwt_vault.cli import main
        from sfjwt_vault.errors import MissingExtraError
        from sfjwt_vault.keyref import KeyRef
        from sfjwt_vault.plugins import get_host
        print("plugins-exit", main(["plugins"]))
        print("cert-exit", main(["cert", "--key", "aws-sm:prod/sf"]))
        for ref in ("aws-kms:alias/x", "vault:secret/sf", "vault-transit:transit/k"):
            try:
                get_host().owner(KeyRef.parse(ref))
            except MissingExtraError as exc:
                print("library", ref, exc.exit_code, exc.hint)
        try:
            get_host().shared_cache("dynamodb:t?kms_key=alias/k")
        except MissingExtraError as exc:
            print("cache", exc.hint)
        print("file", get_host().owner(KeyRef.parse("file:/k")))
        """
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(plain)},
        cwd=tmp_path,
        check=False,
        timeout=120,
    )
    out = result.stdout
    assert "plugins-exit 0" in out, result.stderr
    aws_line = next(line for line in out.splitlines() if line.startswith("aws "))
    assert "[needs the [aws] extra (boto3, urllib3 not installed)]" in aws_line
    assert "fix: pip install 'sfjwt-vault[aws]'" in out and "fix: pip install 'sfjwt-vault[vault]'" in out
    assert "[loaded]" in next(line for line in out.splitlines() if line.startswith("file "))
    assert "cert-exit 2" in out
    assert "needs the [aws] extra" in result.stderr and "hint: pip install 'sfjwt-vault[aws]'" in result.stderr
    assert "unexpected" not in result.stderr and "Traceback" not in result.stderr
    assert "library aws-kms:alias/x 2 pip install 'sfjwt-vault[aws]'" in out
    assert "library vault:secret/sf 2 pip install 'sfjwt-vault[vault]'" in out
    assert "library vault-transit:transit/k 2 pip install 'sfjwt-vault[vault]'" in out
    assert "cache pip install 'sfjwt-vault[aws]'" in out
    assert "file file" in out


# -- hooks, routing, events ----------------------------------------------------------------------------


def test_two_registered_plugins_claiming_one_scheme_is_an_error() -> None:
    host = PluginHost(load_entry_points=False)
    host.register(sfjwt_vault_file, "file", distribution="sfjwt-vault")
    impostor = types.SimpleNamespace(sfjwt_schemes=hookimpl(lambda: ["file"]))
    with pytest.raises(SchemeConflictError, match="both claim the 'file' key scheme") as info:
        host.register(impostor, "impostor", distribution="evil")
    assert "distribution sfjwt-vault" in info.value.message and "distribution evil" in info.value.message
    assert host.owner(KeyRef.parse("file:/x")) == "file"


class Recorder:
    """A plugin that records every reference or cache URL it is handed."""

    def __init__(self, schemes: list[str], cache_schemes: list[str]) -> None:
        self.seen: list[str] = []
        self._schemes, self._cache_schemes = schemes, cache_schemes

    @hookimpl
    def sfjwt_schemes(self) -> list[str]:
        return self._schemes

    @hookimpl
    def sfjwt_cache_schemes(self) -> list[str]:
        return self._cache_schemes

    @hookimpl
    def sfjwt_fetch_key(self, ref: KeyRef) -> SecretBuffer:
        self.seen.append(str(ref))
        return SecretBuffer.from_buffer(bytearray(b"k"))

    @hookimpl
    def sfjwt_previous_key_ref(self, ref: KeyRef) -> KeyRef:
        self.seen.append(f"previous {ref}")
        return ref

    @hookimpl
    def sfjwt_shared_cache(self, url: str) -> object:
        self.seen.append(url)
        return self


def test_hooks_and_the_shared_cache_are_routed_by_declared_scheme() -> None:
    nosy = Recorder(["nosy"], ["nosycache"])
    mine = Recorder(["mine"], ["minecache"])
    host = PluginHost(load_entry_points=False)
    host.register(mine, "mine")
    host.register(nosy, "nosy")  # registered last: pluggy would ask it first
    host.fetch_key(KeyRef.parse("mine:a")).wipe()
    assert host.previous_key_ref(KeyRef.parse("mine:a")) is not None
    assert host.shared_cache("minecache:table") is mine
    assert nosy.seen == []
    assert mine.seen == ["mine:a", "previous mine:a", "minecache:table"]
    with pytest.raises(UnknownSchemeError, match="no installed plugin serves the shared token cache 'dynamodb'"):
        host.shared_cache("dynamodb:t")


def test_only_the_owner_of_a_scheme_sees_the_reference(key_file: Path) -> None:
    nosy = Recorder(["nosy"], [])
    host = PluginHost(load_entry_points=False)
    host.register(nosy, "nosy")
    host.register(sfjwt_vault_file, "file")
    host.fetch_key(KeyRef.parse(f"file:{key_file}")).wipe()
    assert nosy.seen == []


def test_a_plugin_that_fails_to_import_is_named_and_others_still_load(tmp_path: Path) -> None:
    make_dist(
        tmp_path,
        "broken-plugin",
        "[sfjwt_vault]\nbroken = broken_plugin_mod\n",
        {"broken_plugin_mod": "raise ImportError('needs a library that is missing')\n"},
    )
    result = run_python(
        """
        from sfjwt_vault.plugins import get_host
        host = get_host()
        print(host.schemes.get("file"))
        print(host.plugins["broken-plugin:broken"].error)
        """,
        {"PYTHONPATH": str(tmp_path)},
    )
    lines = result.stdout.splitlines()
    assert lines[0] == "file", result.stderr
    assert "broken_plugin_mod" in lines[1] and "needs a library that is missing" in lines[1]
    assert "plugin 'broken-plugin:broken'" in result.stderr  # logged as a warning


def test_observers_are_called_by_their_declared_arguments_and_isolated(caplog: pytest.LogCaptureFixture) -> None:
    events: list[object] = []

    class WithEvent:
        @hookimpl
        def sfjwt_token_issued(self, event: object) -> None:
            events.append(event)

    class WithoutArguments:
        @hookimpl
        def sfjwt_token_issued(self) -> None:
            events.append("called without arguments")

    class Broken:
        @hookimpl
        def sfjwt_token_issued(self, event: object) -> None:
            raise RuntimeError("observer bug")

    host = PluginHost(load_entry_points=False)
    host.register(WithEvent(), "with-event")
    host.register(Broken(), "broken")
    host.register(WithoutArguments(), "without-arguments")
    host.notify("sfjwt_token_issued", event="payload")
    assert sorted(map(str, events)) == ["called without arguments", "payload"]
    failures = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert failures == ["sfjwt-vault plugin 'broken' failed in sfjwt_token_issued: RuntimeError"]


def install_envkey(tmp_path: Path) -> Path:
    target = tmp_path / "envkey-site"
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
    return target


@pytest.fixture
def envkey_site(tmp_path: Path) -> Iterator[Path]:
    yield install_envkey(tmp_path)


def test_third_party_backend_is_discovered_through_its_entry_point(envkey_site: Path, rsa_key: object) -> None:
    """Install examples/sfjwt-vault-envkey like a user would and mint with its `env:` scheme."""
    from tests.conftest import pem_of

    result = run_python(
        """
        import sys
        from sfjwt_vault.plugins import get_host
        from sfjwt_vault.keys import open_signer
        host = get_host()
        info = host.plugins["sfjwt-vault-envkey:envkey"]
        print(info.distribution, info.version, host.schemes["env"], info.declared)
        with open_signer("env:SFJWT_TEST_PEM") as signer:
            print(len(signer.sign(b"hello")))
        print(sorted(m for m in sys.modules if m.startswith("sfjwt_vault_")))
        """,
        {"PYTHONPATH": str(envkey_site), "SFJWT_TEST_PEM": pem_of(rsa_key).decode()},  # type: ignore[arg-type]
    )
    assert result.stdout.split("\n")[:3] == [
        "sfjwt-vault-envkey 0.1.0 sfjwt-vault-envkey:envkey True",
        "256",
        "['sfjwt_vault_envkey']",
    ], result.stderr
    allowed = run_python(
        "from sfjwt_vault.keys import open_signer\nwith open_signer('env:SFJWT_TEST_PEM') as s: print('ok')",
        {
            "PYTHONPATH": str(envkey_site),
            "SFJWT_TEST_PEM": pem_of(rsa_key).decode(),  # type: ignore[arg-type]
            "SFJWT_PLUGINS": "sfjwt-vault-envkey:envkey",
        },
    )
    assert allowed.stdout.strip() == "ok", allowed.stderr


def test_a_broken_allow_list_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SFJWT_PLUGINS", "file,a:b:c")
    with pytest.raises(ConfigurationError, match="SFJWT_PLUGINS has a malformed entry 'a:b:c'"):
        PluginHost().owner(KeyRef.parse("file:/k"))


def test_a_refused_plugin_cannot_be_used_even_when_routed_to(site: Path, marker: Path) -> None:
    make_dist(
        site,
        "grabby",
        "[sfjwt_vault]\ngrab = grab_mod\n[sfjwt_vault.schemes]\ngrab = grab_mod\nvault = grab_mod\n",
        {"grab_mod": marker_module("grab")},
    )
    [refused] = route(site, marker, "grab:x")
    assert refused.startswith(
        "PluginError 2 the 'grabby:grab' plugin (distribution grabby 1.0) cannot be used: refused"
    )
    assert "add vault=grabby:grab to SFJWT_PLUGINS" in refused
    assert imported(marker) == []
    assert isinstance(PluginError("x"), ConfigurationError)


def test_the_example_plugins_own_tests_pass(envkey_site: Path) -> None:
    """The walk-through's test file (docs/plugins.md), run as its author would run it."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(REPO / "examples/sfjwt-vault-envkey/tests"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(envkey_site)},
        cwd=REPO,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
