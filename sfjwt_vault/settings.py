"""Every setting sfjwt-vault reads from a flag or the environment, checked when it is read.

`SETTINGS` is the one table: the CLI builds its flags and their help from it, `Credentials.from_env`
and `sfjwt doctor` read through `read`, and the README's configuration table lists exactly these rows
(a test compares the two). A bad value is a `ConfigurationError` that names the variable or flag, the
value (never for the key reference or the consumer key) and the fix: exit code 2 in the CLI.

Precedence: keyword values (library callers) over flags over environment variables. An empty
environment variable counts as unset.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import endpoints
from .errors import ConfigurationError
from .keyref import KeyRef

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})
MAX_SESSION_LIFETIME = 86400.0  # Salesforce's longest session timeout: 24 hours
MAX_CA_BUNDLE_BYTES = 16 * 1024 * 1024

Parser = Callable[[str, str], Any]  # (text, how it was given) -> value
KEYWORD = "keyword"  # the source of a value a library caller passed


@dataclass(frozen=True)
class Setting:
    """One row of the configuration table. `name` is the `Credentials` keyword."""

    name: str
    env: str
    flag: str | None  # on `sfjwt token` and `sfjwt doctor`; None: environment (or keyword) only
    meaning: str
    default: str  # as --help and the README show it
    parse: Parser
    metavar: str | None = None  # None for an on/off flag
    echo: bool = True  # False: a bad value is never repeated in the message
    keyword: bool = True  # False: not a `Credentials` keyword (read here to check it, used elsewhere)
    repeatable: bool = False  # a flag that may be given more than once (its values join like a comma list)

    def shown(self, text: str, flag: bool) -> str:
        """How a given value is named in an error: `--timeout -1`, `SFJWT_TIMEOUT=0`, or just the name."""
        if flag:
            return f"{self.flag} {text}" if self.echo and self.metavar else str(self.flag)
        return f"{self.env}={text}" if self.echo else self.env


# -- parsers: (text, shown) -> value ----------------------------------------------------------------


def _text(what: str) -> Parser:
    def parse(text: str, shown: str) -> str:
        value = text.strip()
        if any(c.isspace() for c in value):
            raise ConfigurationError(
                f"{shown}: the {what} contains whitespace", hint="copy it again without spaces or newlines"
            )
        return value

    return parse


def _key_ref(text: str, shown: str) -> KeyRef:
    try:
        return KeyRef.parse(text)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{shown}: {exc.message}", hint=exc.hint) from None


def _url(text: str, shown: str) -> str:
    """Checked against the allowed hosts once all settings are read (see `_check_urls`)."""
    return text.strip()


def boolean(text: str, shown: str) -> bool:
    value = text.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ConfigurationError(
        f"{shown} is not a clear yes or no",
        hint="use 1, true, yes or on to turn it on; 0, false, no or off (or leave it unset) to turn it off",
    )


def seconds(what: str, default: str, maximum: float = math.inf) -> Parser:
    def parse(text: str, shown: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and 0 < value <= maximum):
            limit = f" and at most {maximum:.0f}" if math.isfinite(maximum) else ""
            raise ConfigurationError(
                f"{shown}: the {what} must be a number of seconds greater than 0{limit}",
                hint=f"e.g. {default} (the default); unset it to use the default",
            )
        return value

    return parse


def ca_bundle(text: str, shown: str) -> str:
    """A readable regular file holding PEM certificates that TLS can load: the path, expanded."""
    path = os.path.expanduser(text.strip())
    hint = (
        "pass the PEM file of the CA that signs the token endpoint's certificate (e.g. a TLS-inspecting "
        "proxy's CA); unset it to use the system's trust store"
    )
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ConfigurationError(f"{shown}: no such file", hint=hint) from None
    except OSError as exc:
        raise ConfigurationError(f"{shown}: cannot be read ({exc.strerror})", hint=hint) from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigurationError(f"{shown}: not a regular file", hint=hint)
    if info.st_size > MAX_CA_BUNDLE_BYTES:
        raise ConfigurationError(f"{shown}: {info.st_size} bytes, too large for a CA bundle", hint=hint)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CA_BUNDLE_BYTES + 1)
    except PermissionError:
        raise ConfigurationError(f"{shown}: not readable by this user", hint=hint) from None
    except OSError as exc:
        raise ConfigurationError(f"{shown}: cannot be read ({exc.strerror})", hint=hint) from None
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise ConfigurationError(f"{shown}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)", hint=hint)
    import ssl  # here, not at import: only a CA bundle needs it

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cadata=data.decode("ascii"))
    except (ssl.SSLError, UnicodeDecodeError, ValueError):
        raise ConfigurationError(f"{shown}: its certificates cannot be loaded (malformed PEM)", hint=hint) from None
    return path


def _hosts(text: str, shown: str) -> tuple[str, ...]:
    try:
        return endpoints.parse_allowed_hosts(text)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{shown}: {exc.message}", hint=exc.hint) from None


def _plugin_names(text: str, shown: str) -> str:
    """Checked by the plugin host's own parser, so the syntax lives in one place (docs/plugins.md)."""
    from .plugin_policy import AllowList

    AllowList.parse(text)
    return text.strip()


def _token_cache(text: str, shown: str) -> str:
    value = text.strip()
    if value != "local" and ":" not in value:
        raise ConfigurationError(
            f"{shown} is not a token cache reference",
            hint="use dynamodb:<table>?kms_key=..., vault-kv:<mount>/<prefix>?transit=<mount>/<key>, or local",
        )
    return value


# -- the table --------------------------------------------------------------------------------------

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "consumer_key",
        "SF_CONSUMER_KEY",
        "--consumer-key",
        "the app's consumer key (`iss`)",
        "required",
        _text("consumer key"),
        "KEY",
        echo=False,
    ),
    Setting(
        "username",
        "SF_USERNAME",
        "--username",
        "the exact username (`sub`); sandbox usernames carry the suffix (`user@acme.com.uat`)",
        "required",
        _text("username"),
        "USER",
    ),
    Setting(
        "key",
        "SFJWT_KEY",
        "--key",
        "key reference: `file:`, `aws-sm:`, `aws-kms:`, `vault:` or `vault-transit:` (Key references, below)",
        "required",
        _key_ref,
        "REF",
        echo=False,
    ),
    Setting(
        "audience",
        "SF_AUDIENCE",
        "--audience",
        "`aud`: `https://login.salesforce.com`, `https://test.salesforce.com`, a site URL, or My Domain "
        "for External Client Apps",
        "login (test with `SF_SANDBOX`)",
        _url,
        "URL",
    ),
    Setting(
        "sandbox",
        "SF_SANDBOX",
        "--sandbox",
        "shortcut for the sandbox audience; 1/true/yes/on or 0/false/no/off",
        "false",
        boolean,
    ),
    Setting(
        "token_url",
        "SF_TOKEN_URL",
        "--token-url",
        "where to POST; a bare host gets `/services/oauth2/token`",
        "the audience's host",
        _url,
        "URL",
    ),
    Setting(
        "allowed_hosts",
        endpoints.ALLOWED_HOSTS_ENV,
        "--allow-host",
        "hosts besides Salesforce's domains the token URL and audience may use (a private endpoint, an "
        "egress proxy that terminates TLS, a site on your own domain): comma list, `*.domain` for subdomains",
        "none",
        _hosts,
        "HOST",
        repeatable=True,
    ),
    Setting(
        "verify",
        "SFJWT_CA_BUNDLE",
        "--ca-bundle",
        "PEM CA bundle trusted for the token exchange instead of certifi's (TLS-inspecting proxies); must "
        "exist and hold certificates; the only variable that changes that trust",
        "certifi's CA bundle",
        ca_bundle,
        "FILE",
    ),
    Setting(
        "timeout",
        "SFJWT_TIMEOUT",
        "--timeout",
        "seconds for one whole token exchange attempt (connect, send, headers, body), greater than 0; "
        "key-store and shared-cache calls have their own timeouts",
        "10 (connect 5)",
        seconds("timeout", "10"),
        "SECONDS",
    ),
    Setting(
        "session_lifetime",
        "SFJWT_SESSION_LIFETIME",
        None,
        "seconds a token is assumed to live, 1 to 86400 (see Token lifecycle)",
        "900",
        seconds("session lifetime", "900", MAX_SESSION_LIFETIME),
    ),
    Setting(
        "rotation_fallback",
        "SFJWT_ROTATION_FALLBACK",
        None,
        "on `invalid assertion`, retry once with the previous key version (AWS `AWSPREVIOUS`, Vault KV "
        "previous version); 1/true/yes/on or 0/false/no/off",
        "false",
        boolean,
    ),
    Setting(
        "shared_cache",
        "SFJWT_TOKEN_CACHE",
        None,
        "a token cache shared by a fleet: `dynamodb:<table>?kms_key=...` or "
        "`vault-kv:<mount>/<prefix>?transit=<mount>/<key>` ([docs/fleet.md](docs/fleet.md)), or `local`",
        "in-process only",
        _token_cache,
    ),
    Setting(
        "plugins",
        "SFJWT_PLUGINS",
        None,
        "plugins allowed to load: `file`, `aws`, `vault` for sfjwt-vault's own, `<distribution>:<entry point>` "
        "for others, `<scheme>=<plugin>` to hand a scheme to one "
        "([docs/plugins.md](docs/plugins.md#allow-list-and-scheme-ownership))",
        "all installed",
        _plugin_names,
        keyword=False,
    ),
)
BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
REQUIRED = ("consumer_key", "username", "key")


@dataclass(frozen=True)
class Settings:
    """The settings that were given, parsed and checked. Unset ones are absent from `values`, so the
    `Credentials` defaults apply; `sources` says where each came from (env var, flag or keyword)."""

    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def missing(self) -> list[str]:
        """The environment variables of the required settings that were not given."""
        return [BY_NAME[name].env for name in REQUIRED if not self.values.get(name)]

    def require(self) -> None:
        missing = self.missing()
        if missing:
            raise ConfigurationError(
                f"missing configuration: {', '.join(missing)}",
                hint="set them in the environment or pass --consumer-key / --username / --key "
                "(the README's configuration table lists every setting)",
            )

    def credentials_kwargs(self) -> dict[str, Any]:
        return {k: v for k, v in self.values.items() if k not in BY_NAME or BY_NAME[k].keyword}


def read(
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
    values: Mapping[str, Any] | None = None,
) -> Settings:
    """Read every setting; the first bad one raises its ConfigurationError."""
    settings, problems = read_all(environ, flags, values)
    for problem in problems.values():
        raise problem
    return settings


def read_all(
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
    values: Mapping[str, Any] | None = None,
) -> tuple[Settings, dict[str, ConfigurationError]]:
    """Read every setting and collect every problem by setting name (for `sfjwt doctor`, which reports
    them all). A setting with a problem is left out of the settings.

    `flags` maps setting names to what the CLI parsed (strings; True for an on/off flag; a list for a
    repeatable flag); `values` maps them to typed values from library callers, used as given.
    """
    env = os.environ if environ is None else environ
    given_flags = {k: v for k, v in (flags or {}).items() if v is not None}
    keywords = dict(values or {})
    parsed: dict[str, Any] = {}
    sources: dict[str, str] = {}
    problems: dict[str, ConfigurationError] = {}
    for setting in SETTINGS:
        if setting.name in keywords:
            parsed[setting.name] = keywords.pop(setting.name)
            sources[setting.name] = KEYWORD
            continue
        raw = given_flags.get(setting.name)
        from_flag = raw is not None
        if raw is None:
            raw = env.get(setting.env) or None
        if raw is None:
            continue
        if raw is True:  # an on/off flag given on the command line
            parsed[setting.name], sources[setting.name] = True, str(setting.flag)
            continue
        text = ",".join(raw) if isinstance(raw, list | tuple) else str(raw)
        if not text.strip():
            continue
        try:
            parsed[setting.name] = setting.parse(text, setting.shown(text, from_flag))
        except ConfigurationError as exc:
            problems[setting.name] = exc
            continue
        sources[setting.name] = str(setting.flag) if from_flag else setting.env
    parsed.update(keywords)  # other Credentials keywords (cache, retry, ...) pass through untouched
    problems.update(_check_urls(parsed, sources))
    return Settings(parsed, sources), problems


def _check_urls(parsed: dict[str, Any], sources: dict[str, str]) -> dict[str, ConfigurationError]:
    """Audience and token URL against Salesforce's domains and the allowed hosts, now that all are read.
    Keyword values are left to `Credentials`, which checks them the same way."""
    try:
        allowed = endpoints.parse_allowed_hosts(parsed.get("allowed_hosts"))
    except ConfigurationError as exc:
        return {"allowed_hosts": exc}
    problems: dict[str, ConfigurationError] = {}
    for name, check in (("audience", endpoints.normalize_audience), ("token_url", endpoints.normalize_token_url)):
        source = sources.get(name, KEYWORD)
        if name not in parsed or source == KEYWORD:
            continue
        try:
            parsed[name] = check(parsed[name], allowed)
        except ConfigurationError as exc:
            problems[name] = ConfigurationError(f"{source}: {exc.message}", hint=exc.hint)
            del parsed[name]
    return problems


def flags_from(args: Any) -> dict[str, Any]:
    """The settings given as flags on an argparse namespace (absent or None when not given)."""
    return {s.name: getattr(args, s.name, None) for s in SETTINGS if s.flag}
