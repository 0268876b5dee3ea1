"""Who may serve what: the `SFJWT_PLUGINS` allow-list and which installed plugins are sfjwt-vault's own.

Both rules are written down for users and plugin authors in docs/plugins.md ("Allow-list and scheme
ownership"); this module is their one implementation.

- A plugin is named `<entry point>` if it is sfjwt-vault's own, `<distribution>:<entry point>` otherwise.
- sfjwt-vault's own plugins are the entry points of the distribution that provides the running
  `sfjwt_vault` package (checked on the files, not on the name in the metadata), whose modules that same
  installation provides. A folder that merely calls itself `sfjwt-vault` is not it.
- The schemes in `FIRST_PARTY_SCHEMES` and `FIRST_PARTY_CACHE_SCHEMES` are served by sfjwt-vault's own
  plugins only, unless `SFJWT_PLUGINS` hands one to another plugin (`file=acme-keys:file`).
"""

from __future__ import annotations

import os
import re
import sys
from typing import NamedTuple

from .errors import ConfigurationError
from .plugin_index import Distribution, normalize

ALLOW_ENV = "SFJWT_PLUGINS"
OWN_DISTRIBUTION = "sfjwt-vault"

# scheme -> (sfjwt-vault's plugin serving it, the extra it needs). Kept here, not read from metadata,
# so the protection holds even when the metadata is missing or forged; tests/test_plugins.py checks it
# against pyproject.toml.
FIRST_PARTY_SCHEMES: dict[str, tuple[str, str | None]] = {
    "file": ("file", None),
    "aws-sm": ("aws", "aws"),
    "aws-kms": ("aws", "aws"),
    "vault": ("vault", "vault"),
    "vault-transit": ("vault", "vault"),
}
FIRST_PARTY_CACHE_SCHEMES: dict[str, tuple[str, str | None]] = {
    "dynamodb": ("aws", "aws"),
    "vault-kv": ("vault", "vault"),
}

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_SCHEME = r"[a-z][a-z0-9+.-]*"
_ITEM = rf"^(?:(?P<scheme>{_SCHEME})=)?(?:(?P<dist>{_NAME}):)?(?P<ep>{_NAME})$"  # compiled on first use
_SYNTAX_HINT = (
    "a comma list of plugins: `file`, `aws`, `vault` for sfjwt-vault's own, `<distribution>:<entry point>` "
    "for others (see `sfjwt plugins`), and `<scheme>=<plugin>` to choose who serves a scheme"
)


def plugin_name(distribution: str | None, entry_point: str, *, first_party: bool) -> str:
    """The name the allow-list, `sfjwt plugins` and errors use for a plugin."""
    if first_party or distribution is None:
        return entry_point
    return f"{normalize(distribution)}:{entry_point}"


class AllowList(NamedTuple):
    """A parsed `SFJWT_PLUGINS`. `plugins` holds plugin names; `assignments` maps scheme -> plugin name."""

    raw: str
    plugins: frozenset[str]
    assignments: dict[str, str]

    @classmethod
    def parse(cls, raw: str) -> AllowList:
        plugins: set[str] = set()
        assignments: dict[str, str] = {}
        for item in (part.strip() for part in raw.split(",")):
            if not item:
                continue
            match = re.match(_ITEM, item)
            if match is None:
                raise ConfigurationError(f"{ALLOW_ENV} has a malformed entry {item!r}", hint=_SYNTAX_HINT)
            dist, entry_point, scheme = match.group("dist"), match.group("ep"), match.group("scheme")
            own = dist is None or normalize(dist) == OWN_DISTRIBUTION
            name = plugin_name(dist, entry_point, first_party=own)
            if scheme is not None:
                if assignments.get(scheme, name) != name:
                    raise ConfigurationError(
                        f"{ALLOW_ENV} gives the {scheme!r} scheme to both {assignments[scheme]!r} and {name!r}",
                        hint="name one plugin per scheme",
                    )
                assignments[scheme] = name
            plugins.add(name)
        return cls(raw, frozenset(plugins), assignments)

    def allows(self, name: str) -> bool:
        return name in self.plugins


def allow_list(raw: str | None = None) -> AllowList | None:
    """The allow-list given, else `SFJWT_PLUGINS`; None when neither is set (every plugin may load)."""
    text = raw if raw is not None else os.environ.get(ALLOW_ENV)
    return None if text is None else AllowList.parse(text)


def first_party_refusal(name: str, claims: list[str], allow: AllowList | None, *, cache: bool = False) -> str | None:
    """Why a plugin that is not sfjwt-vault's own may not serve the schemes it claims, or None."""
    reserved = FIRST_PARTY_CACHE_SCHEMES if cache else FIRST_PARTY_SCHEMES
    taken = [s for s in claims if s in reserved and (allow is None or allow.assignments.get(s) != name)]
    if not taken:
        return None
    kind = "token cache scheme" if cache else "key scheme"
    schemes = ", ".join(f"{s}:" for s in taken)
    return f"it claims sfjwt-vault's own {kind} {schemes} without being given it in {ALLOW_ENV}"


# -- which installed distribution is the running sfjwt-vault -------------------------------------------


def running_package_dir() -> str:
    """The folder the running `sfjwt_vault` package was imported from."""
    return os.path.dirname(os.path.realpath(sys.modules["sfjwt_vault"].__file__ or ""))


def provided_package_dir(dist: Distribution, package: str) -> str | None:
    """The folder from which `dist`'s installation provides the top-level `package`, or None.

    A regular install puts the package next to its metadata folder. An editable install (setuptools)
    lists in RECORD either a finder module, loaded at start-up by its `.pth` file, whose MAPPING names
    the source folder, or a `.pth` file that puts a source folder on `sys.path`. Only files the
    installation wrote count: a metadata folder elsewhere that names the same package proves nothing.
    """
    beside = os.path.join(dist.base, package)
    if os.path.isfile(os.path.join(beside, "__init__.py")):
        return os.path.realpath(beside)
    for listed in dist.record():
        if "/" in listed or "\\" in listed:
            continue  # the hooks sit at the top of site-packages; '../' paths could point anywhere
        found = _editable_finder_dir(dist, listed, package) or _pth_dir(dist, listed, package)
        if found:
            return found
    return None


def provides_running_package(dist: Distribution) -> bool:
    """True if `dist` is the installation of the running `sfjwt_vault` package."""
    if dist.folder_name != OWN_DISTRIBUTION and normalize(dist.name) != OWN_DISTRIBUTION:
        return False
    found = provided_package_dir(dist, "sfjwt_vault")
    return found is not None and same_file(found, running_package_dir())


def _editable_finder_dir(dist: Distribution, listed: str, package: str) -> str | None:
    if not (listed.startswith("__editable__") and listed.endswith("_finder.py")):
        return None
    finder = sys.modules.get(listed[: -len(".py")])
    finder_file = getattr(finder, "__file__", None)
    if not finder_file or not same_file(finder_file, os.path.join(dist.base, listed)):
        return None  # not the finder site.py loaded from this folder
    mapping = getattr(finder, "MAPPING", None)
    target = mapping.get(package) if isinstance(mapping, dict) else None
    return os.path.realpath(target) if isinstance(target, str) else None


def _pth_dir(dist: Distribution, listed: str, package: str) -> str | None:
    if not listed.endswith(".pth") or not _is_site_dir(dist.base):
        return None  # a .pth file only takes effect in a site folder
    try:
        with open(os.path.join(dist.base, listed), encoding="utf-8") as handle:
            lines = [line.strip() for line in handle]
    except OSError:
        return None
    for line in lines:
        if line and not line.startswith(("#", "import ")):
            candidate = os.path.join(line, package)
            if os.path.isfile(os.path.join(candidate, "__init__.py")):
                return os.path.realpath(candidate)
    return None


def _is_site_dir(folder: str) -> bool:
    import site

    sites = [*getattr(site, "getsitepackages", list)(), site.getusersitepackages()]
    return any(same_file(folder, s) for s in sites if os.path.isdir(s))


def same_file(a: str, b: str) -> bool:
    """True if both paths name one existing file or folder."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
