"""`sfjwt keygen`: a new RSA key straight into the secret store, and the certificate for Salesforce.

The private key goes from the generator into a SecretBuffer and from there into the store through the
backend's `sfjwt_store_key` hook; it is never written elsewhere, printed or logged. One copy cannot be
wiped: cryptography's `private_bytes` returns an immutable `bytes` object. It is copied into the
buffer at once and dropped (its memory is freed, not zeroed); the buffer is wiped after the store.
The parsed key object lives only until the certificate is signed and the PEM serialized.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from dataclasses import dataclass
from typing import TextIO

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .certs import DEFAULT_DAYS, certificate_pem, self_signed_certificate
from .errors import ConfigurationError, SfjwtError
from .keyref import KeyRef
from .plugins import PluginHost, get_host
from .secret import SecretBuffer
from .signer import LocalSigner

ALLOWED_BITS = (2048, 3072, 4096)
DEFAULT_BITS = 2048
MAX_DAYS = 36500
LOCAL_EXAMPLE = "file:./salesforce-jwt.key"


@dataclass(frozen=True)
class KeygenResult:
    """What keygen did: the certificate to upload and the backend's own words about the write."""

    ref: KeyRef
    certificate_pem: bytes
    stored: str
    replaced: bool  # the store held a readable key at this reference before: this is a rotation


def check_bits(bits: int) -> int:
    if bits not in ALLOWED_BITS:
        raise ConfigurationError(
            f"--bits {bits} is not offered; choose 2048, 3072 or 4096",
            hint="2048 is Salesforce's common choice; below 2048 is refused, above 4096 only slows every mint",
        )
    return bits


def check_certificate_options(common_name: str, days: int) -> None:
    """The certificate's subject and validity, checked before any key is made."""
    if not 1 <= days <= MAX_DAYS:
        raise ConfigurationError(
            f"--days {days}: the certificate validity must be 1 to {MAX_DAYS} days",
            hint=f"e.g. --days {DEFAULT_DAYS} (the default); Salesforce does not enforce expiry",
        )
    if not 1 <= len(common_name) <= 64 or not common_name.isprintable():
        raise ConfigurationError(
            "--common-name must be 1 to 64 printable characters (an X.509 subject CN)",
            hint="e.g. --common-name sfjwt-vault (the default) or the app's name",
        )


def generate_and_store(
    store: str | KeyRef,
    *,
    bits: int = DEFAULT_BITS,
    common_name: str = "sfjwt-vault",
    days: int = DEFAULT_DAYS,
    overwrite: bool = False,
    host: PluginHost | None = None,
) -> KeygenResult:
    """Generate a key, store it at `store`, return the self-signed certificate for it."""
    check_bits(bits)
    check_certificate_options(common_name, days)
    ref = KeyRef.parse(store)
    if "passphrase_env" in ref.options:
        raise ConfigurationError(
            "keygen stores an unencrypted PEM, but the reference names a passphrase (?passphrase_env)",
            hint="drop ?passphrase_env from --store; protect the key with the store's access control",
        )
    host = host or get_host()
    host.owner(ref)  # an unknown scheme fails here, before a key exists
    replaced = _holds_key(ref, host)
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    signer = LocalSigner(key)
    try:
        certificate = certificate_pem(self_signed_certificate(signer, common_name=common_name, days=days))
        pem = _pem_buffer(key)
    finally:
        signer.close()
        del key
    try:
        stored = host.store_key(ref, pem, overwrite=overwrite)
    finally:
        pem.wipe()
    return KeygenResult(ref=ref, certificate_pem=certificate, stored=stored, replaced=replaced)


def _pem_buffer(key: rsa.RSAPrivateKey) -> SecretBuffer:
    """The PKCS#8 PEM in a SecretBuffer. The `bytes` cryptography returns cannot be wiped: drop it now."""
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        return SecretBuffer.from_buffer(data)
    finally:
        del data


def _holds_key(ref: KeyRef, host: PluginHost) -> bool:
    """Whether the store already has a readable key here (so this run rotates it). Wiped at once."""
    try:
        buffer = host.fetch_key(ref)
    except SfjwtError:
        return False  # absent, or not readable by this identity: the backend's description says more
    buffer.wipe()
    return True


def next_steps(result: KeygenResult, cert_location: str, cert_file: str | None = None) -> str:
    """What to do in Salesforce now, in order. Rotation gets its own ordering advice."""
    ref = str(result.ref)
    lines = [
        f"Stored: {result.stored}",
        f"Key reference: SFJWT_KEY={ref}",
        "",
        "Next steps in Salesforce:",
        f"  1. Upload the certificate ({cert_location}):",
        "     Connected App: Setup > App Manager > your app > Edit > API (Enable OAuth Settings) >",
        "       'Use digital signatures' > choose the file > Save.",
        "     External Client App: Setup > External Client App Manager > your app > Settings > OAuth >",
        "       enable 'JWT Bearer flow' > upload the certificate.",
        "  2. OAuth scopes: 'api' is needed ('api' + 'web' is typical); refresh_token/offline_access are not.",
        "  3. Manage > Edit Policies: Permitted Users = 'Admin approved users are pre-authorized'.",
        "  4. Manage > Profiles or Permission Sets: add the integration user's profile or permission set.",
        "  5. Wait for propagation: app and certificate changes take 2 to 10 minutes.",
        f"  6. Check: sfjwt doctor --key {ref} --cert {cert_file or '<the certificate file>'}",
    ]
    if result.replaced:
        lines += [
            "",
            "Rotation: a key was already stored at this reference; the new key is now the current one.",
            "  - The app holds ONE certificate: upload the new certificate now, right after this store.",
            "  - For 2 to 10 minutes Salesforce may still expect the old key. With a versioned store",
            "    (aws-sm:, vault:) set SFJWT_ROTATION_FALLBACK=1 so an 'invalid assertion' is retried",
            "    once with the previous version; the file backend keeps no previous version.",
            "  - Once `sfjwt doctor` passes with the new certificate, unset SFJWT_ROTATION_FALLBACK.",
        ]
    return "\n".join(lines) + "\n"


def _same_file(a: str, b: str) -> bool:
    """The same path, the same path once symlinks are resolved, or the same file (a hard link)."""
    a, b = os.path.abspath(os.path.expanduser(a)), os.path.abspath(os.path.expanduser(b))
    if a == b or os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_output_path(path: str, *, force: bool, what: str = "certificate") -> None:
    """Refuse an output path that is a symlink or not a regular file, and an existing file without
    --force: before a key is made, so a refusal costs nothing."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ConfigurationError(
            f"the folder {folder!r} for the {what} does not exist", hint="create it first, or choose another path"
        )
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigurationError(f"the {what} path {path!r} cannot be checked: {exc.strerror}") from None
    if stat.S_ISLNK(info.st_mode):
        raise ConfigurationError(
            f"the {what} path {path!r} is a symbolic link; output files never follow one",
            hint="remove the link or choose another file name",
        )
    if not stat.S_ISREG(info.st_mode):
        raise ConfigurationError(f"the {what} path {path!r} exists and is not a regular file")
    if not force:
        raise ConfigurationError(
            f"the {what} file {path!r} already exists; not overwritten",
            hint="pass --force to replace it, or choose another file name",
        )


def write_output_file(path: str, data: bytes, *, force: bool, what: str = "certificate") -> None:
    """Write a public file (the certificate is public: 0644 under the usual umask) without following a
    symlink and without replacing a file unless `force`. A new file is created exclusively; a replaced
    one goes through a temporary file and `os.replace`, which swaps the directory entry itself."""
    check_output_path(path, force=force, what=what)
    extra = getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        if not force or not os.path.lexists(path):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | extra, 0o644)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            return
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
        try:
            os.fchmod(fd, 0o644)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except FileExistsError:
        raise ConfigurationError(
            f"the {what} file {path!r} appeared while writing; not overwritten", hint="pass --force to replace it"
        ) from None
    except OSError as exc:
        raise ConfigurationError(
            f"the {what} could not be written to {path!r}: {exc.strerror}", hint="check the path and its permissions"
        ) from None


def run(
    *,
    store: str | None,
    bits: int,
    common_name: str,
    days: int,
    force: bool,
    cert_out: str | None,
    host: PluginHost | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """The `sfjwt keygen` command. The private key is never printed: --store is required."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    check_bits(bits)
    if not store:
        raise ConfigurationError(
            "sfjwt keygen writes the private key only into a key store, never to stdout: --store is required",
            hint=f"e.g. --store aws-sm:prod/salesforce-jwt, --store vault:secret/sf/jwt, or for local use "
            f"--store {LOCAL_EXAMPLE}",
        )
    check_certificate_options(common_name, days)
    target = KeyRef.parse(store)
    if cert_out:
        if target.scheme == "file" and _same_file(target.path, cert_out):
            raise ConfigurationError(
                "--cert-out names the key file itself",
                hint="write the certificate to another file, e.g. salesforce-jwt.crt",
            )
        check_output_path(cert_out, force=force)
    result = generate_and_store(store, bits=bits, common_name=common_name, days=days, overwrite=force, host=host)
    if cert_out:
        try:
            write_output_file(cert_out, result.certificate_pem, force=force)
        except ConfigurationError as exc:
            raise ConfigurationError(
                f"the key was stored ({result.stored}) but the certificate was not written: {exc.message}",
                hint=f"make the certificate again from the stored key: sfjwt cert --key {result.ref} --out FILE",
            ) from None
        path = os.path.abspath(cert_out)
        out.write(next_steps(result, path, path))
    else:
        out.write(result.certificate_pem.decode("ascii"))
        out.flush()
        err.write(next_steps(result, "printed on stdout above"))
    return 0
