"""The `sfjwt` command line. Exit codes: 0 ok, 2 usage or configuration, 3 key backend, 4 Salesforce
rejected the request (a hint is printed), 5 network or transient. One line plus a hint on error; the
traceback only with --debug."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from . import __version__
from .errors import SfjwtError

EXIT_OK, EXIT_USAGE = 0, 2

Command = Callable[[argparse.Namespace], int]


def _add_connection_flags(parser: argparse.ArgumentParser) -> None:
    """Flags mirroring the environment variables; a flag given wins over its variable."""
    parser.add_argument("--consumer-key", help="Connected App consumer key (env SF_CONSUMER_KEY)")
    parser.add_argument("--username", help="Salesforce username, exact (env SF_USERNAME)")
    parser.add_argument("--key", help="key reference, e.g. file:key.pem, aws-sm:NAME, vault:secret/sf (env SFJWT_KEY)")
    parser.add_argument("--audience", help="aud claim (env SF_AUDIENCE; default https://login.salesforce.com)")
    parser.add_argument("--token-url", help="token endpoint (env SF_TOKEN_URL; default: the audience's host)")
    parser.add_argument("--sandbox", action="store_true", default=None, help="use https://test.salesforce.com")
    parser.add_argument("--ca-bundle", help="CA bundle for TLS verification (env SFJWT_CA_BUNDLE)")
    parser.add_argument("--timeout", type=float, help="HTTP timeout in seconds (env SFJWT_TIMEOUT)")


def credentials_from_args(args: argparse.Namespace) -> Any:
    from .credentials import Credentials

    overrides: dict[str, Any] = {}
    for flag, name in (
        ("consumer_key", "consumer_key"),
        ("username", "username"),
        ("key", "key"),
        ("audience", "audience"),
        ("token_url", "token_url"),
        ("sandbox", "sandbox"),
        ("ca_bundle", "verify"),
        ("timeout", "timeout"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            overrides[name] = value
    return Credentials.from_env(**overrides)


def cmd_token(args: argparse.Namespace) -> int:
    creds = credentials_from_args(args)
    with creds:
        token = creds.get_token()
    if args.format == "env":
        print(f"SF_ACCESS_TOKEN={token.access_token}")
        print(f"SF_INSTANCE_URL={token.instance_url}")
    else:
        print(json.dumps(token.to_dict(), indent=2))
    return EXIT_OK


def cmd_plugins(args: argparse.Namespace) -> int:
    """List every plugin with its distribution; exit 2 if two claim one scheme or one is refused."""
    from .plugin_policy import ALLOW_ENV
    from .plugins import get_host

    host = get_host()
    host.ensure_loaded()
    conflicts = host.conflicts()
    contested: dict[str, list[str]] = {}
    for conflict in conflicts:
        for plugin in conflict.plugins:
            contested.setdefault(plugin.name, []).append(conflict.scheme)
    infos = sorted(host.plugins.values(), key=lambda i: (not i.first_party, i.name))
    rows: list[dict[str, Any]] = [
        {
            "name": info.name,
            "entry_point": info.entry_point,
            "distribution": info.distribution,
            "version": info.version,
            "first_party": info.first_party,
            "module": info.module,
            "schemes": info.schemes,
            "cache_schemes": info.cache_schemes,
            "status": info.status,
            "hint": info.hint if info.error else None,
            "conflicts": contested.get(info.name, []),
        }
        for info in infos
    ]
    refused = [info for info in infos if info.refused]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    else:
        if not rows:
            print("no sfjwt_vault plugins installed")
        for row in rows:
            schemes = " ".join([f"{s}:" for s in row["schemes"]] + [f"{s}:(cache)" for s in row["cache_schemes"]])
            origin = f"{row['distribution'] or '?'} {row['version'] or ''}".strip()
            line = f"{row['name']:<8} {origin:<20} {schemes or '-':<36} {row['module'] or '':<22}"
            print(f"{line} [{row['status']}]")
            if row["hint"]:
                print(f"{'':<8} fix: {row['hint']}")
    for name in host.unknown_allowed():
        print(
            f"note: {ALLOW_ENV} names {name!r}, which is no installed plugin (sfjwt-vault's own are named "
            "file, aws, vault; others <distribution>:<entry point>, as listed above)",
            file=sys.stderr,
        )
    for problem in [conflict.error() for conflict in conflicts] + [info.unusable() for info in refused]:
        print(f"error: {problem.message}", file=sys.stderr)
        print(f"hint: {problem.hint}", file=sys.stderr)
    return EXIT_USAGE if conflicts or refused else EXIT_OK


def cmd_cert(args: argparse.Namespace) -> int:
    from .certs import certificate_pem, self_signed_certificate
    from .keys import open_signer

    with open_signer(args.key) as signer:
        pem = certificate_pem(self_signed_certificate(signer, common_name=args.common_name, days=args.days))
    if args.out:
        with open(args.out, "wb") as handle:
            handle.write(pem)
        print(f"certificate written to {args.out}: upload it to the Connected App (Use digital signatures)")
    else:
        sys.stdout.write(pem.decode())
    return EXIT_OK


def cmd_keygen(args: argparse.Namespace) -> int:
    from .keygen import run

    return run(
        store=args.store,
        bits=args.bits,
        common_name=args.common_name,
        days=args.days,
        force=args.force,
        cert_out=args.cert_out,
    )


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import run

    return run(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo()


def cmd_emulator(args: argparse.Namespace) -> int:
    from .testing.cli import main as emulator_main

    code: int = emulator_main(list(args.emulator_args or []))
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sfjwt", description="Salesforce JWT Bearer tokens, keys in a vault.")
    parser.add_argument("--version", action="version", version=f"sfjwt-vault {__version__}")
    parser.add_argument("--debug", action="store_true", help="debug logging and tracebacks (never secrets)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    token = sub.add_parser("token", help="mint an assertion and print an access token")
    _add_connection_flags(token)
    token.add_argument("--format", choices=("json", "env"), default="json")
    token.set_defaults(func=cmd_token)

    demo = sub.add_parser("demo", help="the whole flow offline: throwaway key, emulator, token, REST call")
    demo.set_defaults(func=cmd_demo)

    plugins = sub.add_parser("plugins", help="installed key backends, their schemes and origins")
    plugins.add_argument("--format", choices=("text", "json"), default="text")
    plugins.set_defaults(func=cmd_plugins)

    cert = sub.add_parser("cert", help="print a self-signed certificate for a key (local, Transit or KMS)")
    cert.add_argument("--key", required=True, help="key reference")
    cert.add_argument("--common-name", default="sfjwt-vault", help="certificate subject CN")
    cert.add_argument("--days", type=int, default=730, help="validity in days")
    cert.add_argument("--out", help="write the PEM here instead of stdout")
    cert.set_defaults(func=cmd_cert)

    keygen = sub.add_parser("keygen", help="new RSA key straight into the key store, certificate for the app")
    keygen.add_argument("--store", help="key reference to write the private key to (required; file:PATH for local use)")
    keygen.add_argument("--bits", type=int, default=2048, help="RSA key size: 2048 (default), 3072 or 4096")
    keygen.add_argument("--common-name", default="sfjwt-vault", help="certificate subject CN")
    keygen.add_argument("--days", type=int, default=730, help="certificate validity in days")
    keygen.add_argument("--cert-out", help="write the certificate here instead of stdout")
    keygen.add_argument("--force", action="store_true", help="replace an existing key (rotation)")
    keygen.set_defaults(func=cmd_keygen)

    doctor = sub.add_parser("doctor", help="check the setup line by line (offline, then one live exchange)")
    _add_connection_flags(doctor)
    doctor.add_argument("--cert", help="the certificate uploaded to the app, to compare with the key")
    doctor.add_argument("--external-client-app", action="store_true", help="the app is an External Client App")
    doctor.add_argument("--offline", action="store_true", help="skip the clock check and the live exchange")
    doctor.add_argument("--format", choices=("text", "json"), default="text")
    doctor.set_defaults(func=cmd_doctor)

    emulator = sub.add_parser("emulator", help="run the Salesforce token-endpoint emulator", add_help=False)
    emulator.add_argument("emulator_args", nargs=argparse.REMAINDER)
    emulator.set_defaults(func=cmd_emulator)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and getattr(args, "func", None) is not cmd_emulator:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if getattr(args, "func", None) is cmd_emulator:
        # The emulator has its own options; argparse's REMAINDER drops those that come first.
        args.emulator_args = [*extra, *args.emulator_args]
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if not args.debug:
        logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        code: int = args.func(args)
        return code
    except SfjwtError as exc:
        if args.debug:
            logging.getLogger("sfjwt_vault").exception("failed")
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        if args.debug:
            raise
        print(f"error: {type(exc).__name__}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        if args.debug:
            raise
        print(f"error: unexpected {type(exc).__name__}; rerun with --debug for the traceback", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
