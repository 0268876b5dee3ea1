"""The `sfjwt` command line. One `error:` line plus a `hint:` line on failure, and an exit code from
`EXIT_CODES` (the README's table); the traceback only with --debug, before or after the command."""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from . import __version__
from .errors import SfjwtError

if TYPE_CHECKING:
    from .credentials import Credentials

EXIT_OK, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_PIPE_CLOSED = 0, 2, 70, 130, 141
EXIT_CODES = {
    EXIT_OK: "ok",
    1: "doctor found a FAIL",
    EXIT_USAGE: "usage or configuration",
    3: "key backend",
    4: "Salesforce refused",
    5: "network or transient",
    EXIT_INTERNAL: "internal error (a bug)",
    126: "exec: the command cannot be run",
    127: "exec: command not found",
    EXIT_INTERRUPTED: "interrupted",
    EXIT_PIPE_CLOSED: "stdout closed early",
}
DEBUG_HINT = (
    "rerun with --debug for the traceback (before or after the command: `sfjwt --debug token ...` or "
    "`sfjwt token ... --debug`)"
)


class Parser(argparse.ArgumentParser):
    """argparse with the CLI's error style: an `error:` line, a `hint:` line, exit code 2."""

    def __init__(self, *args: Any, hint: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)
        self.hint = hint

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {self.prog}: {message}\nhint: {self.hint or f'see `{self.prog} --help`'}\n")
        sys.exit(EXIT_USAGE)


def _plain(text: str) -> str:
    """README markup out of a help line: `code` and [link](target)."""
    import re

    return re.sub(r"\[([^]]+)\]\([^)]+\)", r"\1", text).replace("`", "").replace("%", "%%")


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of the settings table (sfjwt_vault.settings); a flag given wins over its variable.
    Values are checked by the settings module, not argparse, so every bad value gets the same error."""
    from .settings import SETTINGS

    for setting in SETTINGS:
        if setting.flag is None:
            continue
        default = "required" if setting.default == "required" else f"default: {setting.default}"
        help_text = _plain(f"{setting.meaning} (env {setting.env}; {default})")
        dest = setting.name
        if setting.metavar is None:
            parser.add_argument(setting.flag, dest=dest, action="store_true", default=None, help=help_text)
        elif setting.repeatable:
            parser.add_argument(setting.flag, dest=dest, action="append", metavar=setting.metavar, help=help_text)
        else:
            parser.add_argument(setting.flag, dest=dest, metavar=setting.metavar, help=help_text)


def credentials_from_args(args: argparse.Namespace) -> Credentials:
    """Credentials from the settings: flags over environment variables, each checked when read."""
    from . import settings
    from .credentials import Credentials

    read = settings.read(flags=settings.flags_from(args))
    read.require()
    return Credentials(**read.credentials_kwargs())


def cmd_token(args: argparse.Namespace) -> int:
    creds = credentials_from_args(args)
    with creds:
        token = creds.get_token()
    if args.format == "env":
        # Every value quoted for the shell: they come from the token endpoint (instance_url is also
        # checked against Salesforce's domains when the answer is read).
        print(f"export SF_ACCESS_TOKEN={shlex.quote(token.access_token)}")
        print(f"export SF_INSTANCE_URL={shlex.quote(token.instance_url)}")
    else:
        print(json.dumps(token.to_dict(), indent=2))
    return EXIT_OK


def cmd_exec(args: argparse.Namespace) -> int:
    """Run the command with SF_ACCESS_TOKEN and SF_INSTANCE_URL in its environment; its status is ours."""
    from .child_process import run
    from .errors import ConfigurationError

    command = args.child[1:] if args.child[:1] == ["--"] else args.child
    if not command:
        raise ConfigurationError("no command to run", hint="sfjwt exec [options] -- COMMAND [ARGS...]")
    creds = credentials_from_args(args)
    with creds:
        token = creds.get_token()
    return run(command, {"SF_ACCESS_TOKEN": token.access_token, "SF_INSTANCE_URL": token.instance_url})


def cmd_revoke(args: argparse.Namespace) -> int:
    """Revoke the fleet's current session (shared cache) or a token from stdin or the environment."""
    from .errors import ConfigurationError

    creds = credentials_from_args(args)
    token = _token_to_revoke(args.token_from)
    if token is None and creds._shared_tokens() is None:
        raise ConfigurationError(
            "nothing to revoke: no token given and no shared token cache to find the current session in",
            hint="pipe a token in with --token-from stdin, revoke $SF_ACCESS_TOKEN with --token-from env, "
            "or set SFJWT_TOKEN_CACHE to revoke the fleet's current session",
        )
    with creds:
        revoked = creds.revoke(token)
    where = creds.revoke_route().host
    if revoked:
        print(f"revoked the session of {creds.username} at {where}; it is gone from the token caches")
    else:
        print(f"no live session of {creds.username} to revoke (none cached, or it had expired or been revoked)")
    return EXIT_OK


def _token_to_revoke(source: str | None) -> str | None:
    """The token `sfjwt revoke` was given: from stdin (without echo on a terminal) or SF_ACCESS_TOKEN.
    Never from the command line, where other local users can read it."""
    import os

    from .errors import ConfigurationError

    if source is None:
        return None
    if source == "env":
        value = os.environ.get("SF_ACCESS_TOKEN", "")
        where = "SF_ACCESS_TOKEN"
    elif sys.stdin.isatty():
        import getpass

        value, where = getpass.getpass("access token to revoke: "), "the terminal"
    else:
        value, where = sys.stdin.readline(64 * 1024), "stdin"
    if not value.strip():
        raise ConfigurationError(f"no access token in {where}", hint="give the whole token, as `sfjwt token` prints it")
    return value


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
    from .keygen import check_certificate_options, check_output_path, write_output_file
    from .keys import open_signer

    check_certificate_options(args.common_name, args.days)
    if args.out:
        check_output_path(args.out, force=args.force)  # before the key is fetched or a remote signer asked
    with open_signer(args.key) as signer:
        pem = certificate_pem(self_signed_certificate(signer, common_name=args.common_name, days=args.days))
    if args.out:
        write_output_file(args.out, pem, force=args.force)
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


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def build_parser() -> Parser:
    parser = Parser(
        prog="sfjwt",
        description="Salesforce access tokens through the JWT Bearer flow, with the key in a vault or never "
        "leaving KMS/Transit.",
        epilog=_examples(
            "sfjwt demo                                        # the whole flow offline",
            "sfjwt keygen --store file:./sf.key --cert-out sf.crt",
            "sfjwt doctor --cert sf.crt                        # settings from the environment",
            "sfjwt exec -- ./job.sh                            # a command with SF_ACCESS_TOKEN, SF_INSTANCE_URL",
        )
        + "\n\nexit codes: "
        + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items()),
        hint="run `sfjwt --help` for the commands, or `sfjwt demo` to watch the flow offline",
    )
    parser.add_argument("--version", action="version", version=f"sfjwt-vault {__version__}")
    debug_help = "debug logging and tracebacks, never secrets (also accepted after the command)"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    # --debug after the command too: SUPPRESS keeps a subcommand from resetting one given before it.
    common = Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    def command(name: str, summary: str, *examples: str, hint: str | None = None) -> Parser:
        # `description` shows in `sfjwt NAME --help`, `help` in the command list of `sfjwt --help`.
        created: Parser = sub.add_parser(
            name,
            help=summary,
            description=summary + ".",
            epilog=_examples(*examples) if examples else None,
            parents=[common],
            hint=hint or f"see `sfjwt {name} --help`",
        )
        return created

    token = command(
        "token",
        "Mint an assertion, exchange it and print the access token",
        "sfjwt token                                  # settings from SF_CONSUMER_KEY, SF_USERNAME, SFJWT_KEY",
        "sfjwt token --key aws-sm:prod/sf-jwt --token-url https://acme.my.salesforce.com",
        'eval "$(sfjwt token --format env)"           # prefer `sfjwt exec -- COMMAND`: no token in the shell',
    )
    _add_setting_flags(token)
    token.add_argument(
        "--format",
        choices=("json", "env"),
        default="json",
        help="json: every field of the answer; env: `export` lines, each value shell-quoted, for eval (default: json)",
    )
    token.set_defaults(func=cmd_token)

    run_with = command(
        "exec",
        "Run a command with SF_ACCESS_TOKEN and SF_INSTANCE_URL in its environment (no shell); its exit "
        "status is sfjwt's, and signals are forwarded to it",
        "sfjwt exec -- python job.py --since yesterday   # arguments passed as given",
        "sfjwt exec -- sh -c 'sf org login access-token --instance-url \"$SF_INSTANCE_URL\" --no-prompt'",
        hint="sfjwt exec [options] -- COMMAND [ARGS...]",
    )
    _add_setting_flags(run_with)
    run_with.add_argument(
        "child",
        nargs=argparse.REMAINDER,
        metavar="-- COMMAND [ARGS...]",
        help="the command and its arguments, after -- (required; run directly, without a shell)",
    )
    run_with.set_defaults(func=cmd_exec)

    revoke = command(
        "revoke",
        "Revoke a session at Salesforce and drop it from the token caches: the fleet's current one "
        "(SFJWT_TOKEN_CACHE), or a token read from stdin or SF_ACCESS_TOKEN (never from the command line)",
        "sfjwt revoke                                 # the session in the shared token cache (SFJWT_TOKEN_CACHE)",
        "sfjwt token | jq -r .access_token | sfjwt revoke --token-from stdin",
        "sfjwt revoke --token-from env                # revoke $SF_ACCESS_TOKEN",
    )
    _add_setting_flags(revoke)
    revoke.add_argument(
        "--token-from",
        choices=("stdin", "env"),
        help="revoke this token instead: one line on stdin (asked without echo on a terminal), or the "
        "SF_ACCESS_TOKEN variable (default: the shared token cache's current session)",
    )
    revoke.set_defaults(func=cmd_revoke)

    demo = command("demo", "Run the whole flow offline: throwaway key, local emulator, token, REST call", "sfjwt demo")
    demo.set_defaults(func=cmd_demo)

    plugins = command(
        "plugins",
        "List the installed key backends, their schemes, origins and load status",
        "sfjwt plugins",
        "SFJWT_PLUGINS=aws sfjwt plugins --format json",
    )
    plugins.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    plugins.set_defaults(func=cmd_plugins)

    cert = command(
        "cert",
        "Print a self-signed certificate for a key (file, secret store, KMS or Transit) to upload to the app",
        "sfjwt cert --key aws-kms:alias/salesforce-jwt --out sf.crt",
        "sfjwt cert --key vault-transit:transit/salesforce-jwt > sf.crt",
    )
    cert.add_argument("--key", required=True, metavar="REF", help="key reference, e.g. file:sf.key (required)")
    cert.add_argument("--common-name", default="sfjwt-vault", metavar="CN", help="subject CN (default: sfjwt-vault)")
    cert.add_argument("--days", type=int, default=730, metavar="N", help="validity in days (default: 730)")
    cert.add_argument(
        "--out", metavar="FILE", help="write the PEM here (never through a symlink) instead of stdout (default: stdout)"
    )
    cert.add_argument("--force", action="store_true", help="replace an existing --out file (default: never)")
    cert.set_defaults(func=cmd_cert)

    keygen = command(
        "keygen",
        "Make a new RSA key straight into a key store and print the certificate to upload",
        "sfjwt keygen --store aws-sm:prod/salesforce-jwt --cert-out salesforce-jwt.crt",
        "sfjwt keygen --store file:./salesforce-jwt.key > salesforce-jwt.crt",
        hint="keygen writes the private key only into a store: e.g. --store file:./salesforce-jwt.key, "
        "--store aws-sm:prod/salesforce-jwt or --store vault:secret/salesforce/jwt",
    )
    keygen.add_argument(
        "--store",
        required=True,
        metavar="REF",
        help="key reference to write the private key to; file:PATH for local use (required: the key is never printed)",
    )
    keygen.add_argument(
        "--bits", type=int, default=2048, metavar="N", help="RSA key size: 2048, 3072 or 4096 (default: 2048)"
    )
    keygen.add_argument(
        "--common-name", default="sfjwt-vault", metavar="CN", help="certificate subject CN (default: sfjwt-vault)"
    )
    keygen.add_argument(
        "--days", type=int, default=730, metavar="N", help="certificate validity in days (default: 730)"
    )
    keygen.add_argument(
        "--cert-out",
        metavar="FILE",
        help="write the certificate here (never through a symlink, never the key file) instead of stdout "
        "(default: stdout, next steps on stderr)",
    )
    keygen.add_argument(
        "--force",
        action="store_true",
        help="replace an existing key (rotation) and an existing --cert-out file (default: never replace)",
    )
    keygen.set_defaults(func=cmd_keygen)

    doctor = command(
        "doctor",
        "Check the setup line by line (offline, then one live exchange) and say what to fix",
        "sfjwt doctor --cert salesforce-jwt.crt       # settings from the environment, like sfjwt token",
        "sfjwt doctor --offline                       # no network",
        "sfjwt doctor --format json | jq '.findings[] | select(.status==\"FAIL\")'",
    )
    _add_setting_flags(doctor)
    doctor.add_argument(
        "--cert",
        metavar="FILE",
        help="the certificate uploaded to the app, compared with the key (default: not compared)",
    )
    doctor.add_argument(
        "--external-client-app", action="store_true", help="the app is an External Client App (default: Connected App)"
    )
    doctor.add_argument(
        "--offline", action="store_true", help="skip the clock check and the live exchange (default: both run)"
    )
    doctor.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    doctor.set_defaults(func=cmd_doctor)

    emulator = sub.add_parser(
        "emulator",
        help="Run a local Salesforce token endpoint to point code at (`sfjwt emulator --help` for its options)",
        add_help=False,
    )
    emulator.add_argument("emulator_args", nargs=argparse.REMAINDER)
    emulator.set_defaults(func=cmd_emulator)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "func", None) is cmd_emulator:
        # The emulator has its own options; argparse's REMAINDER drops those that come first.
        emulator_args = [*extra, *args.emulator_args]
        args.debug = args.debug or "--debug" in emulator_args
        args.emulator_args = [a for a in emulator_args if a != "--debug"]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.error("no command given")
    debug = bool(getattr(args, "debug", False))
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not debug:
        logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        code: int = args.func(args)
        return code
    except SfjwtError as exc:
        if debug:
            logging.getLogger("sfjwt_vault").exception("failed")
        print(f"error: {exc.message}", file=sys.stderr)
        print(f"hint: {exc.hint or DEBUG_HINT}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`sfjwt token | head -1`): stop quietly, as a SIGPIPE would.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PIPE_CLOSED
    except Exception as exc:
        if debug:
            raise
        print(f"error: unexpected {type(exc).__name__} (a bug in sfjwt-vault or a plugin)", file=sys.stderr)
        print(f"hint: {DEBUG_HINT}, and report it", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
