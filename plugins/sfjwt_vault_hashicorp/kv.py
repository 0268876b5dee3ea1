"""The KV secrets engine (version 1 and 2): where a `vault:` reference points, reading, versions, writing.

`vault:<mount>/<path>[?kv=1|2][&version=N][&mount=M][#field]`. The KV version (and, when `?mount=` is
not given, the mount itself) comes from `sys/internal/ui/mounts/<path>`, which every token may read for
paths it has any capability on; `?kv=` skips that lookup. Results are cached per session.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple
from urllib.parse import urlencode

from sfjwt_vault.plugin_api import (
    MAX_KEY_BYTES,
    ConfigurationError,
    KeyBackendError,
    KeyFormatError,
    KeyRef,
    SecretBuffer,
    has_dot_segment,
)

from .errors import VaultNotFoundError, VaultPermissionDeniedError
from .session import VaultSession

log = logging.getLogger("sfjwt_vault.vault")

DEFAULT_FIELD = "private_key"
OPTIONS = {"kv", "version", "mount", "passphrase_env"}  # passphrase_env is the core's (an encrypted PEM)


class KvLocation(NamedTuple):
    """A resolved `vault:` reference: mount, path under it, KV version, pinned version, field."""

    mount: str
    path: str
    kv: int
    pinned: int | None
    field: str

    @property
    def data_path(self) -> str:
        return f"{self.mount}/data/{self.path}" if self.kv == 2 else f"{self.mount}/{self.path}"

    @property
    def metadata_path(self) -> str:
        return f"{self.mount}/metadata/{self.path}"

    def describe(self) -> str:
        version = f" version {self.pinned}" if self.pinned else ""
        return f"{self.data_path}{version}#{self.field}"


def resolve(ref: KeyRef, session: VaultSession) -> KvLocation:
    """Work out mount, KV version and field for `ref` (looking the mount up in Vault if needed)."""
    ref.check_options(OPTIONS, "vault:secret/salesforce/jwt?kv=2&version=3#private_key")
    full = ref.path.strip("/")
    mount_opt = mount_option(ref) or None
    kv_opt = ref.options.get("kv")
    if kv_opt not in (None, "1", "2"):
        raise ConfigurationError(f"{ref}: ?kv= must be 1 or 2", hint="KV version 2 is the default")
    pinned = _pinned(ref)
    if kv_opt is not None:
        kv = int(kv_opt)
        mount = mount_opt or full.split("/", 1)[0]
    else:
        mount, kv = _detect(full, mount_opt, session)
    if not full.startswith(mount + "/") or len(full) <= len(mount) + 1:
        raise ConfigurationError(
            f"{ref}: the path must be <mount>/<secret path>, with the secret path under mount {mount!r}",
            hint="for example vault:secret/salesforce/jwt, or vault:team/kv/sf/jwt?mount=team/kv",
        )
    path = full[len(mount) + 1 :]
    if kv == 2 and path.startswith("data/"):
        path = path[len("data/") :]  # tolerate the API path copied from a policy
    if pinned is not None and kv == 1:
        raise ConfigurationError(
            f"{ref}: ?version= needs a KV version 2 mount, and {mount!r} is version 1",
            hint="remove ?version=, or move the key to a KV v2 mount to keep versions",
        )
    return KvLocation(mount=mount, path=path, kv=kv, pinned=pinned, field=ref.fragment or DEFAULT_FIELD)


def mount_option(ref: KeyRef) -> str:
    """The `?mount=` option, stripped of slashes; `.`/`..` segments are refused as in the path itself."""
    mount = ref.options.get("mount", "").strip("/")
    if has_dot_segment(mount):
        raise ConfigurationError(
            f"the key reference {str(ref)!r} has a '.' or '..' segment in ?mount=",
            hint="name the mount by its full path without relative segments",
        )
    return mount


def _pinned(ref: KeyRef) -> int | None:
    raw = ref.options.get("version")
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigurationError(f"{ref}: ?version= must be a positive integer")
    return int(raw)


def _detect(full: str, mount_opt: str | None, session: VaultSession) -> tuple[str, int]:
    fallback_mount = mount_opt or full.split("/", 1)[0]
    cache_key = mount_opt or full
    cached = session.mount_info.get(cache_key)
    if cached is not None:
        return cached
    probe = mount_opt + "/" if mount_opt else full
    try:
        body = session.request("GET", f"sys/internal/ui/mounts/{probe}", what="look up the KV mount", capability="read")
    except (VaultPermissionDeniedError, VaultNotFoundError):
        # Older servers or locked-down policies: assume the documented default.
        log.debug("could not look up the mount of %s; assuming KV v2 at %s", full, fallback_mount)
        return fallback_mount, 2
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not data.get("path"):
        raise VaultNotFoundError(
            f"no secrets engine is mounted at {fallback_mount!r}",
            hint="check the mount (first path segment, or ?mount=) and VAULT_NAMESPACE; `bao secrets list`",
        )
    engine = str(data.get("type") or "")
    if engine not in ("kv", "generic"):
        raise KeyBackendError(
            f"{str(data['path']).rstrip('/')!r} is a {engine!r} secrets engine, not KV",
            hint="use vault-transit: for Transit keys; vault: references read KV secrets",
        )
    options = data.get("options") or {}
    kv = 2 if str(options.get("version") or "1") == "2" else 1
    result = (str(data["path"]).strip("/"), kv)
    session.mount_info[cache_key] = result
    return result


def read_data(loc: KvLocation, session: VaultSession, *, version: int | None = None) -> tuple[dict[str, Any], int]:
    """The secret's key/value map and its version (0 for KV v1)."""
    params = {"version": str(version)} if version else None
    body = session.request("GET", loc.data_path, what=f"read {loc.describe()}", capability="read", params=params)
    data = body.get("data") if isinstance(body, dict) else None
    if loc.kv == 2:
        if not isinstance(data, dict) or not isinstance(data.get("data"), dict):
            raise VaultNotFoundError(
                f"the secret at {loc.data_path} (version {version or 'latest'}) is deleted or empty",
                hint="undelete it (`bao kv undelete`) or write the key again",
            )
        meta = data.get("metadata") or {}
        return data["data"], int(meta.get("version") or 0)
    if not isinstance(data, dict):
        if isinstance(body, dict) and "versioned K/V" in " ".join(body.get("warnings") or []):
            raise KeyBackendError(
                f"wrong KV version: {loc.mount!r} is a KV version 2 mount but was read as version 1",
                hint="drop ?kv=1 from the reference (or use ?kv=2)",
            )
        raise VaultNotFoundError(f"no secret at {loc.data_path}", hint="check the path; write the key first")
    return data, 0


def fetch(ref: KeyRef, session: VaultSession) -> SecretBuffer:
    """The PEM from the secret's field, copied into a SecretBuffer."""
    loc = resolve(ref, session)
    try:
        data, _ = read_data(loc, session, version=loc.pinned)
    except VaultNotFoundError as exc:
        if ref.options.get("kv") == "2":
            raise VaultNotFoundError(
                exc.message, hint=f"if {loc.mount!r} is a KV version 1 mount, use ?kv=1 (or drop ?kv=)"
            ) from None
        raise
    if loc.field not in data:
        names = ", ".join(sorted(map(str, data))) or "none"
        raise KeyBackendError(
            f"the secret at {loc.data_path} has no field {loc.field!r} (fields present: {names})",
            hint=f"name the field in the reference: vault:{loc.mount}/{loc.path}#<field>",
        )
    value = data[loc.field]
    del data  # drop our reference to the other values early
    if not isinstance(value, str):
        raise KeyFormatError(
            f"field {loc.field!r} at {loc.data_path} holds a {type(value).__name__}, not a PEM string",
            hint="store the PEM text itself in the field",
        )
    if len(value) > MAX_KEY_BYTES:
        raise KeyFormatError(f"field {loc.field!r} at {loc.data_path} is larger than any PEM key")
    if "-----BEGIN" not in value:
        raise KeyFormatError(
            f"field {loc.field!r} at {loc.data_path} does not hold a PEM key",
            hint="store the whole '-----BEGIN PRIVATE KEY-----' block (not base64 of it, not a certificate path)",
        )
    return _to_buffer(value)


def _to_buffer(value: str) -> SecretBuffer:
    """Copy ASCII text into a SecretBuffer one byte at a time (no intermediate `bytes` object)."""
    buffer = SecretBuffer(len(value))
    view = buffer.writable()
    try:
        for i, char in enumerate(value):
            code = ord(char)
            if code > 0x7F:
                raise KeyFormatError("the PEM holds non-ASCII characters", hint="store the PEM text unchanged")
            view[i] = code
    except BaseException:
        view.release()
        buffer.wipe()
        raise
    view.release()
    buffer.set_length(len(value))
    return buffer


def previous_ref(ref: KeyRef, session: VaultSession) -> KeyRef | None:
    """For KV v2 without a pinned version: the newest live version before the current one."""
    loc = resolve(ref, session)
    if loc.kv != 2 or loc.pinned is not None:
        return None
    body = session.request(
        "GET", loc.metadata_path, what=f"read the version list of {loc.data_path}", capability="read"
    )
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        return None
    current = int(data.get("current_version") or 0)
    versions = data.get("versions") or {}
    for number in range(current - 1, 0, -1):
        info = versions.get(str(number)) or {}
        if not info.get("destroyed") and not info.get("deletion_time"):
            return with_version(ref, loc, number)
    return None


def _current_version(loc: KvLocation, session: VaultSession) -> int:
    """The current version number from metadata (a soft-deleted latest version still counts for CAS)."""
    try:
        body = session.request(
            "GET", loc.metadata_path, what=f"read the version list of {loc.data_path}", capability="read"
        )
    except VaultNotFoundError:
        return 0
    data = body.get("data") if isinstance(body, dict) else None
    return int((data or {}).get("current_version") or 0)


def with_version(ref: KeyRef, loc: KvLocation, version: int) -> KeyRef:
    options = dict(ref.options)
    options.update({"mount": loc.mount, "kv": "2", "version": str(version)})
    raw = f"{ref.scheme}:{loc.mount}/{loc.path}?{urlencode(options)}#{loc.field}"
    return KeyRef.parse(raw)


def store(ref: KeyRef, pem: SecretBuffer, overwrite: bool, session: VaultSession) -> str:
    """Write the PEM to the secret's field, keeping its other fields. KV v2: a new version (check-and-set
    against the version read, so a concurrent writer is not silently overwritten)."""
    loc = resolve(ref, session)
    if loc.pinned is not None:
        raise ConfigurationError(f"{ref}: a pinned ?version= cannot be written", hint="remove ?version=")
    try:
        existing, current = read_data(loc, session)
    except VaultNotFoundError:
        existing, current = {}, _current_version(loc, session) if loc.kv == 2 else 0
    exists = bool(existing) or current > 0
    if loc.kv == 1 and existing and not overwrite:
        raise KeyBackendError(
            f"a secret already exists at {loc.data_path} and KV v1 keeps no versions",
            hint="pass --overwrite to replace it (the old key is lost), or use a KV v2 mount",
        )
    fields = {k: v for k, v in existing.items() if k != loc.field}
    del existing
    view = pem.view()
    try:
        fields[loc.field] = str(view, "ascii")  # JSON needs a str: an unavoidable copy (docs/vault.md)
    except UnicodeDecodeError:
        raise KeyFormatError("the PEM holds non-ASCII bytes") from None
    finally:
        view.release()
    write_caps = "update" if exists else "create"
    if loc.kv == 2:
        body = session.request(
            "POST",
            loc.data_path,
            what=f"write {loc.data_path}",
            capability=write_caps,
            json={"data": fields, "options": {"cas": current}},
        )
        del fields
        version = (body or {}).get("data", {}).get("version")
        return f"new version {version} at {loc.data_path}"
    session.request("POST", loc.data_path, what=f"write {loc.data_path}", capability=write_caps, json=fields)
    del fields
    return f"written to {loc.data_path} (KV v1, no versions kept)"
