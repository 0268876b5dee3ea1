"""A long-running worker that keeps a Vault token alive and calls Salesforce every few seconds.

    SF_CONSUMER_KEY=... SF_USERNAME=... SFJWT_KEY=vault:secret/salesforce/jwt \\
    VAULT_ADDR=... SFJWT_VAULT_AUTH=approle SFJWT_VAULT_ROLE_ID=... SFJWT_VAULT_SECRET_ID_FILE=... \\
    python worker.py --interval 5

One Credentials object for the process: the access token is cached and minted again only when it is
near its end or Salesforce answers 401 INVALID_SESSION_ID (Credentials.client() does both), so the key
is read from Vault rarely. The Vault token is renewed on every iteration anyway (`keep_alive`), so it
never lapses between two mints. Nothing here prints a token, a key or an assertion.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

import httpx

from sfjwt_vault import Credentials, SfjwtError, TransientError

API_PATH = "/services/data/v65.0/limits"
log = logging.getLogger("vault_worker")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between calls (default 5)")
    parser.add_argument("--iterations", type=int, default=0, help="stop after N calls (default: run forever)")
    parser.add_argument("--path", default=API_PATH, help=f"REST path to call (default {API_PATH})")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    import sfjwt_vault_hashicorp  # the `vault` plugin: only for keep_alive and its counters

    credentials = Credentials.from_env()
    done = 0
    with credentials:
        http = None
        while args.iterations <= 0 or done < args.iterations:
            done += 1
            try:
                vault = sfjwt_vault_hashicorp.keep_alive()
                if http is None:
                    http = credentials.client(timeout=10.0)
                response = http.get(args.path)
                print(
                    f"call {done}: HTTP {response.status_code}; vault logins={vault.logins} renewals={vault.renewals}",
                    flush=True,
                )
            except TransientError as exc:  # Vault sealed or unreachable, Salesforce 5xx: try again next time
                print(f"call {done}: transient failure, will retry: {exc.message}", file=sys.stderr, flush=True)
            except httpx.TransportError as exc:
                print(f"call {done}: network error, will retry: {type(exc).__name__}", file=sys.stderr, flush=True)
            if args.iterations <= 0 or done < args.iterations:
                time.sleep(args.interval)
        if http is not None:
            http.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    args = parse_args(argv)
    try:
        return run(args)
    except SfjwtError as exc:  # configuration, permission, key: retrying will not help
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
