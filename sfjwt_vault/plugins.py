"""The plugin host: routes each key (or token cache) reference to the one plugin that serves its scheme.

First-party backends (file, AWS, Vault) are entry points like third-party ones. Nothing is imported at
`import sfjwt_vault`. On first use the host reads the entry-point metadata of the installed
distributions (`plugin_index`), applies the allow-list and the scheme-ownership rules
(`plugin_policy`, `plugin_catalog`), and imports only the plugins that declare no schemes; a reference
then imports just the plugin that declared its scheme. `docs/plugins.md` is the contract a plugin
author relies on. The three helper modules are imported on first use too (`import sfjwt_vault` is
on every cold start).
"""

from __future__ import annotations

import importlib
import logging
import threading
from typing import TYPE_CHECKING, Any

import pluggy

from . import hookspecs
from .errors import KeyBackendError, MissingExtraError, SfjwtError, UnknownSchemeError
from .hookspecs import KeyProblem
from .keyref import KeyRef
from .secret import SecretBuffer
from .signer import Signer

if TYPE_CHECKING:
    from .plugin_catalog import Catalog, Conflict, Kind, PluginInfo
    from .plugin_index import Distribution, EntryPoint, Index
    from .plugin_policy import AllowList
    from .shared_cache import SharedCache

log = logging.getLogger("sfjwt_vault")

KEY: Kind = "key"
CACHE: Kind = "cache"

__all__ = ["PluginHost", "get_host", "reset_host"]


class PluginHost:
    """A pluggy manager plus scheme routing. Create one, or use `get_host()`."""

    def __init__(self, *, load_entry_points: bool = True, allow: str | None = None) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self._load_entry_points = load_entry_points
        self._allow_raw = allow
        self._catalog_made: Catalog | None = None
        self._index: Index | None = None
        self._started = False
        self._lock = threading.RLock()
        self._owners: dict[tuple[Kind, str], str] = {}
        self._callers: dict[tuple[str, str], Any] = {}

    # -- what is installed ------------------------------------------------------------------------

    @property
    def _catalog(self) -> Catalog:
        if self._catalog_made is None:
            from .plugin_catalog import Catalog

            self._catalog_made = Catalog(None)
        return self._catalog_made

    @property
    def allow_list(self) -> AllowList | None:
        """The parsed allow-list (`allow=` or `SFJWT_PLUGINS`), None when every plugin may load."""
        from .plugin_policy import allow_list

        return allow_list(self._allow_raw)

    @property
    def plugins(self) -> dict[str, PluginInfo]:
        """name -> what is known about each plugin, loaded or not (with the reason)."""
        self._start()
        return dict(self._catalog.plugins)

    @property
    def schemes(self) -> dict[str, str]:
        """key scheme -> the plugin that would serve it (from metadata: nothing is imported here)."""
        return self._scheme_table(KEY)

    @property
    def cache_schemes(self) -> dict[str, str]:
        """token cache scheme -> the plugin that would serve it."""
        return self._scheme_table(CACHE)

    def conflicts(self) -> list[Conflict]:
        """Every scheme claimed by more than one allowed plugin with no assignment in `SFJWT_PLUGINS`."""
        self._start()
        return self._catalog.conflicts()

    def unknown_allowed(self) -> list[str]:
        """Names in the allow-list that match no installed plugin (typos, or third-party plugins named bare)."""
        self._start()
        allow = self._catalog.allow
        return sorted(allow.plugins - set(self._catalog.plugins)) if allow else []

    def register(self, plugin: object, name: str, *, distribution: str | None = None) -> PluginInfo:
        """Register a plugin object or module directly (tests, embedding applications).

        A registered plugin is the caller's explicit choice: the allow-list does not apply to it, but
        two plugins claiming one scheme is still an error.
        """
        from .plugin_catalog import Conflict, PluginInfo

        with self._lock:
            catalog = self._catalog
            existing = catalog.plugins.get(name)
            if existing is not None and not existing.loaded and name in catalog.entries:
                info = existing  # the entry point of that name, handed over already imported
            else:
                info = PluginInfo(name=name, distribution=distribution, module=getattr(plugin, "__name__", None))
            self._attach(info, plugin, learn=True)
            for kind in (KEY, CACHE):
                for scheme in info.claims(kind):
                    others = [p for p in catalog.eligible(kind, scheme) if p.name != name]
                    if others:
                        self._detach(info)
                        raise Conflict(kind, scheme, (*others, info)).error()
            catalog.plugins[name] = info
            return info

    def ensure_loaded(self) -> None:
        """Import every allowed plugin (for `sfjwt plugins` and doctor). A failure is recorded, not raised."""
        self._start()
        with self._lock:
            for info in list(self._catalog.plugins.values()):
                self._try_load(info)

    # -- routing ----------------------------------------------------------------------------------

    def owner(self, ref: KeyRef) -> str:
        """The plugin serving `ref`'s scheme, imported if need be; a typed error says what to fix."""
        return self._route(KEY, ref.scheme)

    def remote_signer(self, ref: KeyRef) -> Signer | None:
        """A signer from the plugin that owns the scheme, if it signs remotely."""
        signer: Signer | None = self._caller_for("sfjwt_remote_signer", self.owner(ref))(ref=ref)
        return signer

    def fetch_key(self, ref: KeyRef) -> SecretBuffer:
        owner = self.owner(ref)
        buffer: SecretBuffer | None = self._caller_for("sfjwt_fetch_key", owner)(ref=ref)
        if buffer is None:
            raise KeyBackendError(
                f"the {owner!r} plugin claims the {ref.scheme!r} scheme but returned no key for it",
                hint="this is a bug in that plugin; report it to its authors",
            )
        if not isinstance(buffer, SecretBuffer):
            raise KeyBackendError(
                f"the {owner!r} plugin returned {type(buffer).__name__}, not a SecretBuffer",
                hint="key backends must return sfjwt_vault.SecretBuffer so the key can be wiped",
            )
        return buffer

    def previous_key_ref(self, ref: KeyRef) -> KeyRef | None:
        """The key version before `ref`'s current one, if its backend keeps versions."""
        previous: KeyRef | None = self._caller_for("sfjwt_previous_key_ref", self.owner(ref))(ref=ref)
        return previous

    def store_key(self, ref: KeyRef, pem: SecretBuffer, *, overwrite: bool) -> str:
        owner = self.owner(ref)
        result: str | None = self._caller_for("sfjwt_store_key", owner)(ref=ref, pem=pem, overwrite=overwrite)
        if result is None:
            raise KeyBackendError(
                f"the {owner!r} plugin cannot store keys for the {ref.scheme!r} scheme",
                hint="store the key with the secret store's own tools, or use a backend that supports --store",
            )
        return result

    def key_problems(self, ref: KeyRef) -> list[KeyProblem]:
        """Setup problems the owning plugin sees with a working key (for doctor); [] when none."""
        problems: list[KeyProblem] | None = self._caller_for("sfjwt_key_problems", self.owner(ref))(ref=ref)
        return list(problems or [])

    def shared_cache(self, url: str) -> SharedCache | None:
        """The shared token store for a cache reference, from the plugin that declared its scheme."""
        scheme, sep, _ = url.partition(":")
        if not sep or not scheme:
            raise UnknownSchemeError(
                f"the token cache reference {url!r} has no scheme",
                hint="use dynamodb:<table>?kms_key=.. (extra aws), vault-kv:<mount>/<prefix>?transit=.. (extra vault)",
            )
        store: SharedCache | None = self._caller_for("sfjwt_shared_cache", self._route(CACHE, scheme))(url=url)
        return store

    def notify(self, hook: str, **kwargs: Any) -> None:
        """Call an event hook on every loaded plugin, each with the arguments it declares (as pluggy does).

        Observers are isolated: one that raises is logged and the others still run.
        """
        try:
            self._start()
        except SfjwtError:
            return  # a broken allow-list already failed the reference that led here
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            try:
                impl.function(*[kwargs[name] for name in impl.argnames])
            except Exception as exc:  # noqa: BLE001 - observers must not break token issuance
                log.warning("sfjwt-vault plugin %r failed in %s: %s", impl.plugin_name, hook, type(exc).__name__)

    # -- internals --------------------------------------------------------------------------------

    def _start(self) -> None:
        """Once: read the allow-list and the entry points, and import the plugins that declare nothing."""
        if self._started:
            return
        with self._lock:
            if self._started:
                return
            self._catalog.allow = self.allow_list
            if self._load_entry_points:
                from .plugin_index import scan

                self._index = scan()
                self._catalog.add_index(self._index)
                for info in list(self._catalog.plugins.values()):
                    if not info.declared:
                        self._try_load(info)
            self._started = True

    def _route(self, kind: Kind, scheme: str) -> str:
        owner = self._owners.get((kind, scheme))
        if owner is not None:
            return owner
        self._start()
        with self._lock:
            eligible = self._catalog.eligible(kind, scheme)
            if len(eligible) > 1:
                from .plugin_catalog import Conflict

                raise Conflict(kind, scheme, tuple(eligible)).error()
            if not eligible:
                raise self._catalog.no_owner(kind, scheme)
            self._load(eligible[0])
            self._owners[(kind, scheme)] = eligible[0].name
            return eligible[0].name

    def _try_load(self, info: PluginInfo) -> None:
        if info.allowed and not info.refused and not info.loaded and info.error is None:
            try:
                self._load(info)
            except SfjwtError:
                pass  # recorded on the PluginInfo; raised when one of its schemes is used

    def _load(self, info: PluginInfo) -> None:
        """Import an entry-point plugin and register it; a typed error (also kept on `info`) if it cannot."""
        if info.loaded:
            return
        if info.error:
            raise info.unusable()
        dist, ep = self._catalog.entries[info.name]
        gaps = self._index.missing(dist, info.extras) if self._index is not None else {}
        if gaps:
            extra, absent = next(iter(gaps.items()))
            raise info.fail(
                f"needs the [{extra}] extra ({', '.join(absent)} not installed)",
                f"pip install '{dist.name}[{extra}]'",
                MissingExtraError,
            )
        if info.first_party:
            _check_own_module(info, dist, ep)
        try:
            plugin: Any = importlib.import_module(ep.module)
            for part in (ep.attr or "").split("."):
                plugin = getattr(plugin, part) if part else plugin
        except Exception as exc:  # noqa: BLE001 - any import failure is the plugin's
            error = info.fail(
                f"failed to import {ep.target}: {type(exc).__name__}: {exc}",
                "reinstall the plugin, or leave it out of SFJWT_PLUGINS",
            )
            log.warning("sfjwt-vault plugin %r %s", info.name, info.error)
            raise error from None
        self._attach(info, plugin, learn=not info.declared)
        if not info.first_party and not info.declared:
            self._catalog.check_first_party_claims(info)
            if info.refused:
                self._detach(info)
                raise info.unusable()

    def _attach(self, info: PluginInfo, plugin: object, *, learn: bool) -> None:
        """Register with pluggy; check the plugin's own scheme answers against what it declared."""
        try:
            keys = _answer(plugin, "sfjwt_schemes")
            caches = _answer(plugin, "sfjwt_cache_schemes")
            self.pm.register(plugin, name=info.name)
        except Exception as exc:  # noqa: BLE001 - a plugin that cannot say what it serves is broken
            raise info.fail(
                f"failed to load: {type(exc).__name__}: {exc}", "report it to the plugin's authors"
            ) from None
        if learn:
            info.schemes, info.cache_schemes = keys, caches
        elif sorted(keys) != sorted(info.schemes) or sorted(caches) != sorted(info.cache_schemes):
            self.pm.unregister(name=info.name)
            raise info.fail(
                f"declares schemes {info.schemes} and cache schemes {info.cache_schemes} in its entry points, "
                f"but its hooks answer {keys} and {caches}",
                "the plugin's metadata and code disagree: report it to its authors",
            )
        info.loaded = True
        self._owners.clear()
        self._callers.clear()

    def _detach(self, info: PluginInfo) -> None:
        if self.pm.has_plugin(info.name):
            self.pm.unregister(name=info.name)
        info.loaded = False
        self._owners.clear()
        self._callers.clear()

    def _scheme_table(self, kind: Kind) -> dict[str, str]:
        self._start()
        table: dict[str, str] = {}
        for scheme in self._catalog.claimed(kind):
            eligible = self._catalog.eligible(kind, scheme)
            if len(eligible) == 1:
                table[scheme] = eligible[0].name
        return table

    def _caller_for(self, hook: str, owner: str) -> Any:
        """The hook restricted to the owning plugin, so no other plugin sees the reference."""
        caller = self._callers.get((hook, owner))
        if caller is None:
            others = [p for name, p in self.pm.list_name_plugin() if name != owner]
            caller = self._callers[(hook, owner)] = self.pm.subset_hook_caller(hook, remove_plugins=others)
        return caller


def _check_own_module(info: PluginInfo, dist: Distribution, ep: EntryPoint) -> None:
    """sfjwt-vault's own plugin must be imported from the files its own installation wrote."""
    import importlib.util

    from .plugin_policy import provided_package_dir, same_file

    top = ep.module.split(".", 1)[0]
    provided = provided_package_dir(dist, top)
    spec = importlib.util.find_spec(top)
    found = list(spec.submodule_search_locations or []) if spec else []
    if provided is None or not any(same_file(path, provided) for path in found):
        raise info.refuse(
            f"refused: module {top} is found at {found[0] if found else 'nowhere'}, not where the running "
            f"sfjwt-vault installed it ({provided or 'unknown'})",
            "remove the other copy of the module from sys.path (PYTHONPATH), or reinstall sfjwt-vault",
        )


def _answer(plugin: object, hook: str) -> list[str]:
    impl = getattr(plugin, hook, None)
    return [str(s) for s in impl()] if callable(impl) else []


_host: PluginHost | None = None
_host_lock = threading.Lock()


def get_host() -> PluginHost:
    """The process-wide plugin host. Entry points are read on first use, not here."""
    global _host
    if _host is None:
        with _host_lock:
            if _host is None:
                _host = PluginHost()
    return _host


def reset_host() -> None:
    """Forget the process-wide host (tests; after changing SFJWT_PLUGINS)."""
    global _host
    with _host_lock:
        _host = None
