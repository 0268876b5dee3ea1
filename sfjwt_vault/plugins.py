"""The plugin host: finds backends through the `sfjwt_vault` entry-point group, lazily and by allow-list.

First-party backends (file, AWS, Vault) are loaded exactly like third-party ones. Nothing is imported
at `import sfjwt_vault`; the first key reference resolved loads the entry points. `SFJWT_PLUGINS`
(a comma list of entry-point names) limits what may load: auto-loading code into a credential library
is a supply-chain risk, so production deployments should set it.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs
from .errors import KeyBackendError, PluginError, UnknownSchemeError
from .keyref import KeyRef
from .secret import SecretBuffer
from .signer import Signer

log = logging.getLogger("sfjwt_vault")

ENTRY_POINT_GROUP = "sfjwt_vault"
ALLOW_ENV = "SFJWT_PLUGINS"

# Schemes served by first-party plugins that need an extra: (entry-point name, extra).
FIRST_PARTY: dict[str, tuple[str, str]] = {
    "file": ("file", ""),
    "aws-sm": ("aws", "aws"),
    "aws-kms": ("aws", "aws"),
    "vault": ("vault", "vault"),
    "vault-transit": ("vault", "vault"),
}


@dataclass
class PluginInfo:
    """What `sfjwt plugins` shows about one plugin."""

    name: str
    schemes: list[str] = field(default_factory=list)
    distribution: str | None = None
    version: str | None = None
    module: str | None = None
    error: str | None = None


class PluginHost:
    """A pluggy manager plus the scheme routing table. Create one, or use `get_host()`."""

    def __init__(self, *, load_entry_points: bool = True, allow: str | None = None) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self._load_entry_points = load_entry_points
        self._allow_raw = allow
        self._loaded = False
        self._lock = threading.RLock()
        self._plugins: dict[str, PluginInfo] = {}
        self._schemes: dict[str, str] = {}

    @property
    def allow_list(self) -> set[str] | None:
        raw = self._allow_raw if self._allow_raw is not None else os.environ.get(ALLOW_ENV)
        if raw is None:
            return None
        return {name.strip() for name in raw.split(",") if name.strip()}

    def register(self, plugin: object, name: str, *, distribution: str | None = None) -> PluginInfo:
        """Register a plugin object or module directly (tests, embedding applications)."""
        with self._lock:
            info = PluginInfo(name=name, distribution=distribution, module=getattr(plugin, "__name__", None))
            self.pm.register(plugin, name=name)
            impl = getattr(plugin, "sfjwt_schemes", None)
            schemes: list[str] = list(impl()) if callable(impl) else []
            for scheme in schemes:
                owner = self._schemes.get(scheme)
                if owner is not None and owner != name:
                    self.pm.unregister(name=name)
                    raise PluginError(
                        f"plugins {owner!r} and {name!r} both claim the {scheme!r} scheme",
                        hint=f"uninstall one, or list only one of them in {ALLOW_ENV}",
                    )
            for scheme in schemes:
                self._schemes[scheme] = name
            info.schemes = schemes
            self._plugins[name] = info
            return info

    def ensure_loaded(self) -> None:
        """Load the allowed entry points once. A plugin that fails to import is recorded, not fatal."""
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            if self._load_entry_points:
                import importlib.metadata  # here, not at import: it costs ~7 ms of cold start

                allow = self.allow_list
                for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                    if ep.name in self._plugins:
                        continue
                    dist = ep.dist
                    info = PluginInfo(
                        name=ep.name,
                        distribution=dist.metadata["Name"] if dist else None,
                        version=dist.version if dist else None,
                        module=ep.value,
                    )
                    if allow is not None and ep.name not in allow:
                        info.error = f"not loaded: not in {ALLOW_ENV}"
                        self._plugins[ep.name] = info
                        continue
                    try:
                        plugin = ep.load()
                    except Exception as exc:  # noqa: BLE001 - any import failure is the plugin's
                        info.error = f"failed to import {ep.value}: {type(exc).__name__}: {exc}"
                        self._plugins[ep.name] = info
                        log.warning("sfjwt-vault plugin %r %s", ep.name, info.error)
                        continue
                    try:
                        registered = self.register(plugin, ep.name, distribution=info.distribution)
                    except PluginError as exc:
                        info.error = exc.message
                        self._plugins[ep.name] = info
                        log.warning("sfjwt-vault plugin %r not loaded: %s", ep.name, exc.message)
                        continue
                    registered.version, registered.module = info.version, info.module
            self._loaded = True

    @property
    def plugins(self) -> dict[str, PluginInfo]:
        """name -> what is known about each plugin, loaded or not (with the reason)."""
        self.ensure_loaded()
        return dict(self._plugins)

    @property
    def schemes(self) -> dict[str, str]:
        """scheme -> name of the plugin serving it."""
        self.ensure_loaded()
        return dict(self._schemes)

    def owner(self, ref: KeyRef) -> str:
        """The plugin serving `ref`, or a clear error saying what to install or allow."""
        self.ensure_loaded()
        owner = self._schemes.get(ref.scheme)
        if owner is not None:
            return owner
        installed = ", ".join(sorted(self._schemes)) or "none"
        message = f"no installed plugin serves the {ref.scheme!r} key scheme (installed schemes: {installed})"
        first_party = FIRST_PARTY.get(ref.scheme)
        if first_party is not None:
            ep_name, extra = first_party
            info = self._plugins.get(ep_name)
            if info is not None and info.error and "not in" in info.error:
                hint = f"add {ep_name!r} to {ALLOW_ENV} (now {os.environ.get(ALLOW_ENV, '')!r})"
            elif info is not None and info.error:
                hint = f"the {ep_name!r} plugin failed to load: {info.error}"
                if extra:
                    hint += f"; pip install 'sfjwt-vault[{extra}]'"
            else:
                hint = f"pip install 'sfjwt-vault[{extra}]'" if extra else "reinstall sfjwt-vault"
        else:
            hint = "install the plugin that provides it (see `sfjwt plugins`), or check the spelling"
        raise UnknownSchemeError(message, hint=hint)

    def remote_signer(self, ref: KeyRef) -> Signer | None:
        """A signer from the plugin that owns the scheme, if it signs remotely."""
        caller = self._caller_for("sfjwt_remote_signer", self.owner(ref))
        signer: Signer | None = caller(ref=ref)
        return signer

    def fetch_key(self, ref: KeyRef) -> SecretBuffer:
        owner = self.owner(ref)
        caller = self._caller_for("sfjwt_fetch_key", owner)
        buffer: SecretBuffer | None = caller(ref=ref)
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

    def shared_cache(self, url: str) -> Any:
        """The shared token store for a cache reference (`SharedCache`), or None if no plugin serves it."""
        self.ensure_loaded()
        return self.pm.hook.sfjwt_shared_cache(url=url)

    def notify(self, hook: str, **kwargs: Any) -> None:
        """Call an event hook on every plugin; a failing observer is logged, never raised."""
        self.ensure_loaded()
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            try:
                impl.function(**kwargs)
            except Exception as exc:  # noqa: BLE001 - observers must not break token issuance
                log.warning("sfjwt-vault plugin %r failed in %s: %s", impl.plugin_name, hook, type(exc).__name__)

    def _caller_for(self, hook: str, owner: str) -> Any:
        """The hook restricted to the owning plugin, so no other plugin sees the reference."""
        others = [p for name, p in self.pm.list_name_plugin() if name != owner]
        return self.pm.subset_hook_caller(hook, remove_plugins=others)


_host: PluginHost | None = None
_host_lock = threading.Lock()


def get_host() -> PluginHost:
    """The process-wide plugin host. Entry points load on first use, not here."""
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
