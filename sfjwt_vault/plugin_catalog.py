"""The host's catalog: one `PluginInfo` per installed or registered plugin, who may serve which scheme,
and the typed error that says why a scheme cannot be served.

Built from the entry-point metadata (`plugin_index`) and the rules in `plugin_policy`; importing and
calling plugins is the host's job (`plugins`).
"""

from __future__ import annotations

import logging
from typing import Literal, NamedTuple

from .errors import PluginError, SchemeConflictError, UnknownSchemeError
from .plugin_index import (
    CACHE_SCHEMES_GROUP,
    EXTRAS_GROUP,
    GROUP,
    SCHEMES_GROUP,
    Distribution,
    EntryPoint,
    Index,
    normalize,
)
from .plugin_policy import (
    ALLOW_ENV,
    FIRST_PARTY_CACHE_SCHEMES,
    FIRST_PARTY_SCHEMES,
    OWN_DISTRIBUTION,
    AllowList,
    first_party_refusal,
    plugin_name,
    provides_running_package,
    running_package_dir,
)

log = logging.getLogger("sfjwt_vault")

Kind = Literal["key", "cache"]
KEY: Kind = "key"
CACHE: Kind = "cache"


class PluginInfo:
    """What the host knows about one plugin, loaded or not. `error` says why it cannot serve, if it cannot.

    A plain class, not a dataclass: defining a 17-field dataclass costs milliseconds of cold start.
    """

    __slots__ = (
        "allowed",
        "cache_schemes",
        "declared",
        "distribution",
        "entry_point",
        "error",
        "error_class",
        "extras",
        "first_party",
        "hint",
        "loaded",
        "location",
        "module",
        "name",
        "refused",
        "schemes",
        "version",
    )

    def __init__(
        self,
        name: str,
        *,
        schemes: list[str] | None = None,
        cache_schemes: list[str] | None = None,
        distribution: str | None = None,
        version: str | None = None,
        module: str | None = None,
        entry_point: str | None = None,
        first_party: bool = False,
        declared: bool = False,
        extras: tuple[str, ...] = (),
        location: str | None = None,
    ) -> None:
        self.name = name  # `file` for sfjwt-vault's own plugins, `<distribution>:<entry point>` for others
        self.schemes = list(schemes or [])
        self.cache_schemes = list(cache_schemes or [])
        self.distribution = distribution
        self.version = version
        self.module = module
        self.entry_point = entry_point
        self.first_party = first_party
        self.declared = declared  # its schemes come from entry-point metadata, so routing needs no import
        self.extras = extras  # extras of its distribution it needs (`sfjwt_vault.extras` entry points)
        self.location = location  # the distribution's metadata folder
        self.allowed = True
        self.refused = False  # may never serve: an impostor, or it claims a scheme it was not given
        self.loaded = False
        self.error: str | None = None
        self.hint: str | None = None
        self.error_class: type[PluginError] = PluginError

    def __repr__(self) -> str:
        return f"<PluginInfo {self.name} ({self.origin}): {self.status}>"

    def claims(self, kind: Kind) -> list[str]:
        return self.schemes if kind == KEY else self.cache_schemes

    @property
    def origin(self) -> str:
        """`distribution version`, or how it got here, for messages."""
        if self.distribution is None:
            return "registered directly"
        return f"distribution {self.distribution} {self.version or ''}".strip()

    @property
    def status(self) -> str:
        if self.error:
            return self.error
        return "loaded" if self.loaded else "not loaded yet"

    def fail(self, error: str, hint: str, kind: type[PluginError] = PluginError) -> PluginError:
        """Record why the plugin cannot serve; the same typed error is raised now and on every later use."""
        self.error, self.hint, self.error_class = error, hint, kind
        return self.unusable()

    def refuse(self, error: str, hint: str) -> PluginError:
        """Never let this plugin serve (logged once: a refusal means something is installed that should not be)."""
        self.refused = True
        log.warning("sfjwt-vault plugin %r (%s) %s", self.name, self.origin, error)
        return self.fail(error, hint)

    def unusable(self) -> PluginError:
        return self.error_class(
            f"the {self.name!r} plugin ({self.origin}) cannot be used: {self.error}", hint=self.hint
        )


class Conflict(NamedTuple):
    """Two or more allowed plugins claiming one scheme that `SFJWT_PLUGINS` does not assign."""

    kind: Kind
    scheme: str
    plugins: tuple[PluginInfo, ...]

    def error(self) -> SchemeConflictError:
        named = " and ".join(f"{p.name!r} ({p.origin})" for p in self.plugins)
        every = "both" if len(self.plugins) == 2 else "all"
        return SchemeConflictError(
            f"plugins {named} {every} claim the {self.scheme!r} {_what(self.kind)}",
            hint=f"uninstall all but one, or choose one in {ALLOW_ENV}, e.g. {self.scheme}={self.plugins[0].name}",
        )


class Catalog:
    """Every plugin the host knows, and the rules deciding who serves a scheme."""

    def __init__(self, allow: AllowList | None) -> None:
        self.allow = allow
        self.plugins: dict[str, PluginInfo] = {}
        self.entries: dict[str, tuple[Distribution, EntryPoint]] = {}

    def add_index(self, index: Index) -> None:
        """Add the entry-point plugins of every distribution, judged on their metadata alone."""
        own = _own_distribution(index)
        for dist in index.distributions:
            calls_itself_own = OWN_DISTRIBUTION in (dist.folder_name, normalize(dist.name))
            if calls_itself_own and dist is not own and provides_running_package(dist):
                log.debug("sfjwt-vault: ignoring a second copy of its own metadata at %s", dist.path)
                continue
            key_claims = _by_target(dist.groups.get(SCHEMES_GROUP, []))
            cache_claims = _by_target(dist.groups.get(CACHE_SCHEMES_GROUP, []))
            extras = _by_target(dist.groups.get(EXTRAS_GROUP, []))
            for ep in dist.groups.get(GROUP, []):
                info = PluginInfo(
                    name=plugin_name(dist.name, ep.name, first_party=dist is own),
                    entry_point=ep.name,
                    distribution=dist.name,
                    version=dist.version,
                    module=ep.target,
                    first_party=dist is own,
                    declared=ep.target in key_claims or ep.target in cache_claims,
                    schemes=key_claims.get(ep.target, []),
                    cache_schemes=cache_claims.get(ep.target, []),
                    extras=tuple(dict.fromkeys([*ep.extras, *(normalize(e) for e in extras.get(ep.target, []))])),
                    location=dist.path,
                )
                self._judge(info, calls_itself_own)
                self._add(info, dist, ep)

    def check_first_party_claims(self, info: PluginInfo) -> None:
        """Refuse a plugin that is not sfjwt-vault's own but claims one of its schemes unasked."""
        reason = first_party_refusal(info.name, info.schemes, self.allow) or first_party_refusal(
            info.name, info.cache_schemes, self.allow, cache=True
        )
        if reason:
            reserved = FIRST_PARTY_SCHEMES.keys() | FIRST_PARTY_CACHE_SCHEMES.keys()
            taken = [s for s in info.schemes + info.cache_schemes if s in reserved]
            info.refuse(
                f"refused: {reason}",
                f"if you trust it to serve {', '.join(s + ':' for s in taken)}, add "
                f"{','.join(f'{s}={info.name}' for s in taken)} to {ALLOW_ENV}; otherwise uninstall it",
            )

    def eligible(self, kind: Kind, scheme: str) -> list[PluginInfo]:
        """Who may serve `scheme`: the plugin `SFJWT_PLUGINS` assigns it to, else every allowed claimant."""
        claimants = [info for info in self.plugins.values() if scheme in info.claims(kind)]
        assigned = self.allow.assignments.get(scheme) if self.allow else None
        if assigned is not None:
            return [info for info in claimants if info.name == assigned]
        return [info for info in claimants if info.allowed and not info.refused]

    def claimed(self, kind: Kind) -> list[str]:
        return sorted({s for info in self.plugins.values() for s in info.claims(kind)})

    def conflicts(self) -> list[Conflict]:
        found: list[Conflict] = []
        for kind in (KEY, CACHE):
            for scheme in self.claimed(kind):
                eligible = self.eligible(kind, scheme)
                if len(eligible) > 1:
                    found.append(Conflict(kind, scheme, tuple(eligible)))
        return found

    def no_owner(self, kind: Kind, scheme: str) -> PluginError:
        """The error for a scheme nobody may serve, saying what to install, allow or spell differently."""
        what = _what(kind)
        raw = self.allow.raw if self.allow else ""
        assigned = self.allow.assignments.get(scheme) if self.allow else None
        if assigned is not None:
            state = "does not serve it" if assigned in self.plugins else "is not installed"
            return UnknownSchemeError(
                f"{ALLOW_ENV} gives the {scheme!r} {what} to {assigned!r}, which {state}",
                hint=f"check the name with `sfjwt plugins`; {ALLOW_ENV} is now {raw!r}",
            )
        claimants = [info for info in self.plugins.values() if scheme in info.claims(kind)]
        for info in claimants:
            if not info.allowed:
                named_bare = self.allow is not None and info.entry_point in self.allow.plugins
                bare = " (bare names mean sfjwt-vault's own plugins)" if named_bare else ""
                return UnknownSchemeError(
                    f"the {scheme!r} {what} is served by the plugin {info.name!r} ({info.origin}), which is "
                    f"installed but not allowed by {ALLOW_ENV}{bare}",
                    hint=f"add {info.name} to {ALLOW_ENV} (now {raw!r})",
                )
        if claimants:
            return claimants[0].unusable()  # refused: it says why
        reserved = FIRST_PARTY_SCHEMES if kind == KEY else FIRST_PARTY_CACHE_SCHEMES
        known = self.claimed(kind)
        served = f"the {scheme!r} key scheme" if kind == KEY else f"the shared token cache {scheme!r}"
        message = f"no installed plugin serves {served} (installed: {', '.join(known) or 'none'})"
        if scheme in reserved:
            own, extra = reserved[scheme]
            missing = f"reinstall sfjwt-vault (its {own!r} plugin is missing)"
            return UnknownSchemeError(message, hint=f"pip install 'sfjwt-vault[{extra}]'" if extra else missing)
        suggestion = closest_scheme(scheme, sorted(set(known) | set(reserved)))
        if suggestion:
            message += f"; did you mean `{suggestion}:`?"
        hint = "install the plugin that provides it (see `sfjwt plugins`), or check the spelling"
        if kind == CACHE:
            hint = (
                "use dynamodb:<table>?kms_key=.. (extra aws), vault-kv:<mount>/<prefix>?transit=.. (extra vault) "
                f"or local; for another scheme, {hint}"
            )
        return UnknownSchemeError(message, hint=hint)

    def _judge(self, info: PluginInfo, calls_itself_own: bool) -> None:
        """Decide from the metadata alone whether the plugin may load at all."""
        if calls_itself_own and not info.first_party:
            info.refuse(
                f"refused: its metadata ({info.location}) calls it {OWN_DISTRIBUTION}, but that is not the "
                f"installation of the running sfjwt-vault ({running_package_dir()})",
                "uninstall the package that put it there; if you run sfjwt-vault from a source folder, "
                "install that folder (pip install -e <folder>) rather than another copy",
            )
        elif self.allow is not None and not self.allow.allows(info.name):
            info.allowed = False
            info.error = f"not allowed: not in {ALLOW_ENV}"
            info.hint = f"add {info.name} to {ALLOW_ENV} (now {self.allow.raw!r})"
        elif not info.first_party:
            self.check_first_party_claims(info)

    def _add(self, info: PluginInfo, dist: Distribution, ep: EntryPoint) -> None:
        existing = self.plugins.get(info.name)
        if existing is not None and existing.name not in self.entries:
            # Registered directly before first use under this name: the same plugin, now with metadata.
            existing.entry_point, existing.location = ep.name, dist.path
            existing.distribution = existing.distribution or dist.name
            existing.version = existing.version or dist.version
        elif existing is not None:
            # Two distributions give the same plugin name (two copies, or one copying another's name):
            # neither wins by sys.path order; they show as a conflict on every scheme they claim.
            info.name = f"{info.name} ({dist.path})"
            self.plugins[info.name] = info
        else:
            self.plugins[info.name] = info
        self.entries[info.name] = (dist, ep)


def closest_scheme(word: str, candidates: list[str]) -> str | None:
    """The known scheme a typo most likely meant (`fiel` -> `file`, `aws_sm` -> `aws-sm`), or None."""
    import difflib  # only on this error path

    normalized = word.replace("_", "-").lower()
    if normalized in candidates and normalized != word:
        return normalized
    matches = difflib.get_close_matches(normalized, candidates, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _own_distribution(index: Index) -> Distribution | None:
    """The metadata of the running sfjwt-vault. A stale `sfjwt_vault.egg-info` left in a source folder
    also sits beside the package; an installer's `.dist-info` is preferred to it."""
    own = [dist for dist in index.distributions if provides_running_package(dist)]
    own.sort(key=lambda dist: dist.path.endswith(".egg-info"))
    return own[0] if own else None


def _by_target(entries: list[EntryPoint]) -> dict[str, list[str]]:
    """plugin target -> the names a companion group gives it (`aws-sm = sfjwt_vault_aws`)."""
    named: dict[str, list[str]] = {}
    for ep in entries:
        named.setdefault(ep.target, []).append(ep.name)
    return named


def _what(kind: Kind) -> str:
    return "key scheme" if kind == KEY else "token cache scheme"
