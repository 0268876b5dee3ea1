"""Key references: the one string that says where a private key (or a remote signing key) lives.

Form: `<scheme>:<path>[?option=value&...][#field]`, e.g. `file:/etc/sf/key.pem?passphrase_env=PW`,
`aws-sm:prod/salesforce#private_key`, `vault:secret/sf/jwt`. A reference with no scheme is a file path.
References name where the key is, never the key itself, so they are safe to log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote

from .errors import ConfigurationError

_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):(?!//)")
# What a user may have meant as a scheme: `aws_sm:`, `AWS-SM:`. Refused with a suggestion rather than
# read as a file path, which would fail later with a confusing "no such file".
# A pattern, compiled on first use: only references that fail the strict pattern need it.
_SCHEME_LIKE = r"^([A-Za-z][A-Za-z0-9_+.-]*):(?!//)"
_BASE64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \t\r\n")
_MAX_REF = 2048


@dataclass(frozen=True)
class KeyRef:
    """A parsed key reference. `options` come from the query string, `fragment` names a field."""

    scheme: str
    path: str
    options: dict[str, str] = field(default_factory=dict)
    fragment: str | None = None
    raw: str = ""

    @classmethod
    def parse(cls, ref: str | KeyRef) -> KeyRef:
        if isinstance(ref, KeyRef):
            return ref
        if not isinstance(ref, str) or not ref.strip():
            raise ConfigurationError(
                "the key reference is empty",
                hint="set SFJWT_KEY (or --key) to e.g. file:/path/key.pem, aws-sm:NAME or vault:MOUNT/PATH",
            )
        # First, before any message that could quote it: a pasted key is never echoed.
        if "-----BEGIN" in ref or _looks_like_base64_key(ref.strip()):
            raise ConfigurationError(
                "the key reference looks like a PEM key, not a reference to one",
                hint="store the key in a file or secret store and set SFJWT_KEY to its reference",
            )
        if len(ref) > _MAX_REF or any(ord(c) < 0x20 or ord(c) == 0x7F for c in ref):
            raise ConfigurationError(
                "the key reference is too long or contains control characters",
                hint="a key reference names where the key is; it never holds the key itself",
            )
        text = ref.strip()
        scheme, rest = _split_scheme(text)
        fragment: str | None = None
        if "#" in rest:
            rest, fragment = rest.split("#", 1)
            fragment = fragment or None
        options: dict[str, str] = {}
        if "?" in rest:
            rest, query = rest.split("?", 1)
            for name, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
                if name in options:
                    raise ConfigurationError(
                        f"the key reference {text!r} gives the option {name!r} twice",
                        hint="give each option once; which one was meant cannot be guessed",
                    )
                options[name] = value
        if not rest:
            raise ConfigurationError(f"the key reference {text!r} names no path", hint=_hint_for(scheme))
        if scheme != "file" and has_dot_segment(rest):
            # A file path is the user's own choice; a secret-store path with dot segments could
            # reach outside the path a policy was written for once a client or proxy normalizes it.
            raise ConfigurationError(
                f"the key reference {text!r} has a '.' or '..' path segment",
                hint="name the secret by its full path without relative segments",
            )
        return cls(scheme=scheme, path=rest, options=options, fragment=fragment, raw=text)

    def __str__(self) -> str:
        return self.raw or f"{self.scheme}:{self.path}"

    def check_options(self, allowed: set[str], example: str, *, what: str = "key reference") -> None:
        """Refuse query options the backend does not know: a typo must not be silently ignored."""
        unknown = sorted(set(self.options) - allowed)
        if unknown:
            raise ConfigurationError(
                f"the {what} {str(self)!r} has unknown option(s): {', '.join(unknown)}",
                hint=f"allowed: {', '.join(sorted(allowed)) or 'none'}; for example {example}",
            )


def _split_scheme(text: str) -> tuple[str, str]:
    """(scheme, rest); a reference without a scheme is a file path."""
    match = _SCHEME.match(text)
    # Windows drive letters ("C:\\...") are paths, not schemes.
    if match and len(match.group(1)) > 1:
        return match.group(1), text[match.end() :]
    like = re.match(_SCHEME_LIKE, text)
    if like and len(like.group(1)) > 1:
        word = like.group(1)
        raise ConfigurationError(
            f"the key reference starts with {word + ':'!r}, which is not a valid scheme "
            f"(lowercase letters, digits, '+', '-', '.'); did you mean `{word.lower().replace('_', '-')}:`?",
            hint=f"for a file whose name contains ':', write file:./{text}",
        )
    return "file", text


def _looks_like_base64_key(text: str) -> bool:
    """Bare base64 DER of a private key: "MII" starts the DER SEQUENCE of every RSA key."""
    return text.startswith("MII") and len(text) >= 64 and _BASE64.issuperset(text)


def has_dot_segment(path: str) -> bool:
    """True if `path` (percent-decoded, `\\` as `/`) has a `.` or `..` segment. Plugins check path-like
    options (such as Vault's `?mount=`) with it too."""
    return any(part in (".", "..") for part in unquote(path).replace("\\", "/").split("/"))


def _hint_for(scheme: str) -> str:
    examples = {
        "file": "file:/path/to/key.pem",
        "aws-sm": "aws-sm:my/secret#private_key",
        "aws-kms": "aws-kms:alias/salesforce-jwt",
        "vault": "vault:secret/salesforce/jwt#private_key",
        "vault-transit": "vault-transit:transit/salesforce-jwt",
    }
    return f"for example {examples.get(scheme, scheme + ':<path>')}"
