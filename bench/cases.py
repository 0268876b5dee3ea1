"""The measurements. Each function takes an `Org` (a started TLS emulator) and a size, returns a dict.

Contenders of one comparison are measured in the same run and interleaved round by round (A B C, A B C,
...), so a noisy neighbour on this shared machine slows all of them alike.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import sfjwt_vault_file
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from sfjwt_vault import Credentials
from sfjwt_vault.cache import TokenCache
from sfjwt_vault.keyref import KeyRef
from sfjwt_vault.keys import open_signer
from sfjwt_vault.plugins import PluginHost

from .harness import LOGIN_TOKEN_URL, Org, routed_to, summarize, timed_ms

ROOT = Path(__file__).resolve().parents[1]
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _rsa(pem: bytes, *, validate: bool = True) -> RSAPrivateKey:
    key = load_pem_private_key(pem, None, unsafe_skip_rsa_key_validation=not validate)
    if not isinstance(key, RSAPrivateKey):
        raise TypeError("the benchmark key is RSA")
    return key


def file_host() -> PluginHost:
    host = PluginHost(load_entry_points=False)
    host.register(sfjwt_vault_file, "file")
    return host


def credentials(org: Org, host: PluginHost, *, via_login_name: bool = True, **kw: Any) -> Credentials:
    """This library's Credentials for the org, with a private cache unless one is given."""
    kw.setdefault("cache", TokenCache())
    return Credentials(
        org.consumer_key,
        org.username,
        f"file:{org.key_path}",
        token_url=LOGIN_TOKEN_URL if via_login_name else org.emulator.token_url,
        verify=str(org.ca_path),
        plugin_host=host,
        **kw,
    )


# -- 1. cold mint + exchange ---------------------------------------------------------------------------


class Floor:
    """The hand-written floor: the key parsed once, PyJWT with the key object, one kept-alive client."""

    def __init__(self, org: Org) -> None:
        self.key = _rsa(org.key_pem)
        self.consumer_key, self.username = org.consumer_key, org.username
        self.key_path = org.key_path
        self.client = httpx.Client(verify=ssl.create_default_context(cafile=str(org.ca_path)))

    def login(self) -> str:
        return self._login(self.key)

    def login_reading_key(self) -> str:
        """The floor, but reading and parsing the key for every mint as the library does (no key kept)."""
        with open(self.key_path, "rb") as handle:
            key = _rsa(handle.read(), validate=False)
        return self._login(key)

    def _login(self, key: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": self.consumer_key,
            "sub": self.username,
            "aud": "https://login.salesforce.com",
            "exp": now + 180,
            "iat": now,
            "jti": uuid.uuid4().hex,
        }
        assertion = jwt.encode(claims, key, algorithm="RS256")
        response = self.client.post(LOGIN_TOKEN_URL, data={"grant_type": GRANT, "assertion": assertion})
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token

    def close(self) -> None:
        self.client.close()


def cold_mint(org: Org, rounds: int) -> dict[str, Any]:
    """Item 1: one cold login each (no cached token; the process, imports and connections warm)."""
    from simple_salesforce import Salesforce  # type: ignore[attr-defined]

    host = file_host()
    with routed_to(org.port, org.ca_path):
        creds = credentials(org, host)
        floor = Floor(org)

        def library() -> None:
            creds.get_token(force_refresh=True)

        def library_new_credentials() -> None:
            with credentials(org, host) as fresh:
                fresh.get_token()

        def simple_salesforce() -> None:
            Salesforce(username=org.username, consumer_key=org.consumer_key, privatekey_file=str(org.key_path))

        contenders: dict[str, Callable[[], Any]] = {
            "floor (hand-written)": floor.login,
            "floor, key read + parsed per login": floor.login_reading_key,
            "sfjwt-vault get_token(force_refresh=True)": library,
            "sfjwt-vault, new Credentials each login": library_new_credentials,
            "simple-salesforce Salesforce(privatekey_file=...)": simple_salesforce,
        }
        before = org.emulator.tokens_issued
        for fn in contenders.values():  # warm-up: imports, first connection, first key validation
            fn()
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(rounds):
            for name, fn in contenders.items():
                samples[name].append(timed_ms(fn))
        issued = org.emulator.tokens_issued - before
        creds.close()
        floor.close()
    stats = {name: summarize(values) for name, values in samples.items()}
    floor_median = stats["floor (hand-written)"]["median"]
    for entry in stats.values():
        entry["ratio_to_floor"] = entry["median"] / floor_median
    expected = len(contenders) * (rounds + 1)
    return {"unit": "ms", "rounds": rounds, "tokens_issued": issued, "expected_tokens": expected, "stats": stats}


# -- 2. warm get_token ---------------------------------------------------------------------------------


def warm_get_token(org: Org, calls: int, batches: int = 100) -> dict[str, Any]:
    """Item 2: per-call time of get_token() on a cached token, against a function doing a dict lookup."""
    creds = credentials(org, file_host(), via_login_name=False)
    token = creds.get_token()
    plain = {creds.cache_key: token}
    key = creds.cache_key

    def dict_lookup() -> Any:
        return plain.get(key)

    per_batch = max(calls // batches, 1)
    samples: dict[str, list[float]] = {"sfjwt-vault get_token() (cached)": [], "plain dict lookup": []}
    get = creds.get_token
    for _ in range(batches):
        for name, fn in (("sfjwt-vault get_token() (cached)", get), ("plain dict lookup", dict_lookup)):
            started = time.perf_counter()
            for _ in range(per_batch):
                fn()
            samples[name].append((time.perf_counter() - started) * 1e6 / per_batch)
    creds.close()
    stats = {name: summarize(values) for name, values in samples.items()}
    base = stats["plain dict lookup"]["median"]
    for entry in stats.values():
        entry["ratio_to_dict"] = entry["median"] / base
    return {"unit": "µs per call", "calls": per_batch * batches, "stats": stats}


# -- 3. bursts on a cold cache -------------------------------------------------------------------------


def thread_burst(org: Org, threads: int, repeats: int) -> dict[str, Any]:
    """Item 3a: `threads` threads call get_token() at once on a cold cache; count the exchanges."""
    host = file_host()
    counts: list[int] = []
    walls: list[float] = []
    for _ in range(repeats):
        creds = credentials(org, host, via_login_name=False)
        barrier = threading.Barrier(threads + 1)
        tokens: list[str] = []
        errors: list[BaseException] = []

        def worker(
            creds: Credentials = creds,
            barrier: threading.Barrier = barrier,
            tokens: list[str] = tokens,
            errors: list[BaseException] = errors,
        ) -> None:
            barrier.wait()
            try:
                tokens.append(creds.get_token().access_token)
            except BaseException as exc:  # noqa: BLE001 - counted and reported
                errors.append(exc)

        pool = [threading.Thread(target=worker) for _ in range(threads)]
        for thread in pool:
            thread.start()
        before = org.emulator.exchange_count
        started = time.perf_counter()
        barrier.wait()
        for thread in pool:
            thread.join()
        walls.append((time.perf_counter() - started) * 1000)
        counts.append(org.emulator.exchange_count - before)
        creds.close()
        if errors or len(set(tokens)) != 1:
            raise RuntimeError(f"thread burst: {len(errors)} errors, {len(set(tokens))} distinct tokens")
    return {"callers": threads, "repeats": repeats, "exchanges": counts, "wall_ms": summarize(walls)}


def task_burst(org: Org, tasks: int, repeats: int) -> dict[str, Any]:
    """Item 3b: `tasks` asyncio tasks await get_token_async() at once on a cold cache."""
    host = file_host()
    counts: list[int] = []
    walls: list[float] = []

    async def burst(creds: Credentials) -> set[str]:
        results = await asyncio.gather(*(creds.get_token_async() for _ in range(tasks)))
        await creds.aclose()
        return {t.access_token for t in results}

    for _ in range(repeats):
        creds = credentials(org, host, via_login_name=False)
        before = org.emulator.exchange_count
        started = time.perf_counter()
        distinct = asyncio.run(burst(creds))
        walls.append((time.perf_counter() - started) * 1000)
        counts.append(org.emulator.exchange_count - before)
        creds.close()
        if len(distinct) != 1:
            raise RuntimeError(f"task burst: {len(distinct)} distinct tokens")
    return {"callers": tasks, "repeats": repeats, "exchanges": counts, "wall_ms": summarize(walls)}


# -- 4. cold start in a fresh interpreter --------------------------------------------------------------

# The modules sfjwt_vault itself imports from its dependencies: "its own dependencies" for the budget.
CORE_DEPS = (
    "import httpx, jwt, jwt.algorithms, jwt.api_jws, pluggy, cryptography.x509, "
    "cryptography.hazmat.primitives.serialization, cryptography.hazmat.primitives.asymmetric.rsa, "
    "cryptography.hazmat.primitives.asymmetric.padding, cryptography.hazmat.primitives.hashes"
)


@dataclass(frozen=True)
class ColdStart:
    """One cold-start scenario: code run in a fresh interpreter. `pending` names what is missing."""

    name: str
    code: str
    pending: str | None = None
    env: dict[str, str] = field(default_factory=dict)


_TIMED = """
import time, sys, json
_t0 = time.perf_counter()
{code}
_t1 = time.perf_counter()
print(json.dumps({{"in_process_ms": (_t1 - _t0) * 1000,
                  "boto3": "boto3" in sys.modules, "hvac": "hvac" in sys.modules}}))
"""

_IMPORT_INCREMENT = """
import time, sys, json
{deps}
_t0 = time.perf_counter()
import sfjwt_vault
_t1 = time.perf_counter()
print(json.dumps({{"in_process_ms": (_t1 - _t0) * 1000,
                  "boto3": "boto3" in sys.modules, "hvac": "hvac" in sys.modules}}))
"""

_FIRST_LOGIN_CODE = """
import os
from sfjwt_vault import Credentials
_token = Credentials(os.environ["B_CK"], os.environ["B_USER"], os.environ["B_KEY"],
                     token_url=os.environ["B_URL"], verify=os.environ["B_CA"]).get_token()
assert _token.access_token
"""


def cold_start_scenarios(org: Org) -> list[ColdStart]:
    """Every cold-start row. A backend adds one entry here (and one baseline); see docs/performance.md."""
    token_env = {
        "B_CK": org.consumer_key,
        "B_USER": org.username,
        "B_URL": org.emulator.token_url,
        "B_CA": str(org.ca_path),
    }
    return [
        ColdStart("python -c pass (interpreter floor)", "pass"),
        ColdStart("baseline: import httpx+jwt+cryptography+pluggy", CORE_DEPS),
        ColdStart("import sfjwt_vault", "import sfjwt_vault"),
        ColdStart("first token, file: backend", _FIRST_LOGIN_CODE, env={**token_env, "B_KEY": f"file:{org.key_path}"}),
        ColdStart("baseline: core deps + import boto3", CORE_DEPS + "\nimport boto3"),
        ColdStart("baseline: core deps + import hvac", CORE_DEPS + "\nimport hvac"),
        ColdStart(
            "first token, aws-sm: backend (moto)", "", pending="plugins/sfjwt_vault_aws (branch aws) not in main"
        ),
        ColdStart(
            "first token, vault: backend (OpenBao)",
            "",
            pending="plugins/sfjwt_vault_hashicorp (branch vault) not in main",
        ),
    ]


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SFJWT_", "SF_", "PYTHON"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "plugins")])
    env.update(extra)
    return env


def _run_child(code: str, env: dict[str, str], *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *args, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    wall = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"cold-start child failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall, done


def importtime_top(code: str, env: dict[str, str], prefix: str, top: int = 8) -> list[dict[str, Any]]:
    """`python -X importtime`: the slowest modules (self time) whose name starts with `prefix`."""
    _, done = _run_child(code, env, "-X", "importtime")
    rows: list[dict[str, Any]] = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = (part.strip() for part in line[len("import time:") :].split("|"))
        if name.strip().startswith(prefix):
            rows.append({"module": name.strip(), "self_us": int(self_us), "cumulative_us": int(cumulative_us)})
    rows.sort(key=lambda r: r["self_us"], reverse=True)
    return rows[:top]


def cold_start(org: Org, runs: int) -> dict[str, Any]:
    """Item 4: wall time of a fresh interpreter per scenario, and the import increment of sfjwt_vault."""
    scenarios = cold_start_scenarios(org)
    samples: dict[str, list[float]] = {s.name: [] for s in scenarios if not s.pending}
    in_process: dict[str, list[float]] = {s.name: [] for s in scenarios if not s.pending}
    flags: dict[str, dict[str, bool]] = {}
    increment: list[float] = []
    exchanges_before = org.emulator.exchange_count
    for _ in range(runs):
        for scenario in scenarios:
            if scenario.pending:
                continue
            wall, done = _run_child(_TIMED.format(code=scenario.code), _child_env(scenario.env))
            report = json.loads(done.stdout.strip().splitlines()[-1])
            samples[scenario.name].append(wall)
            in_process[scenario.name].append(report["in_process_ms"])
            flags[scenario.name] = {"boto3": report["boto3"], "hvac": report["hvac"]}
        _, done = _run_child(_IMPORT_INCREMENT.format(deps=CORE_DEPS), _child_env({}))
        report = json.loads(done.stdout.strip().splitlines()[-1])
        increment.append(report["in_process_ms"])
        flags["import sfjwt_vault after its deps"] = {"boto3": report["boto3"], "hvac": report["hvac"]}
    rows: dict[str, dict[str, Any]] = {}
    for scenario in scenarios:
        if scenario.pending:
            rows[scenario.name] = {"pending": scenario.pending}
        else:
            rows[scenario.name] = {
                "wall_ms": summarize(samples[scenario.name]),
                "in_process_ms": summarize(in_process[scenario.name]),
                **flags[scenario.name],
            }
    return {
        "runs": runs,
        "scenarios": rows,
        "import_increment_ms": summarize(increment),
        "imports_boto3_or_hvac": any(f["boto3"] or f["hvac"] for n, f in flags.items() if "baseline" not in n),
        "first_token_exchanges": org.emulator.exchange_count - exchanges_before,
        "importtime_top_sfjwt": importtime_top("import sfjwt_vault", _child_env({}), "sfjwt_vault"),
    }


# -- 5. key fetch and signing latency ------------------------------------------------------------------


@dataclass(frozen=True)
class KeyBackendCase:
    """One key-fetch row: a reference and its backend's own round trip, or what is missing."""

    name: str
    ref: str
    raw_fetch: Callable[[], Any] | None
    pending: str | None = None


def _raw_file_read(path: Path) -> Callable[[], bytes]:
    def read() -> bytes:
        with open(path, "rb") as handle:
            return handle.read()

    return read


def key_latency(org: Org, rounds: int) -> dict[str, Any]:
    """Item 5: fetch per backend, and a whole local mint (fetch, parse, sign) against its parts."""
    host = file_host()
    creds = credentials(org, host, via_login_name=False)
    key_obj = _rsa(org.key_pem)
    message = b"x" * 600  # about the size of an assertion's signing input
    backends = [
        KeyBackendCase("file", f"file:{org.key_path}", _raw_file_read(org.key_path)),
        KeyBackendCase("aws-sm (moto)", "aws-sm:bench", None, pending="aws plugin not in main"),
        KeyBackendCase("vault KV (OpenBao)", "vault:secret/bench#pem", None, pending="vault plugin not in main"),
    ]
    signers: dict[str, Callable[[], Any] | None] = {
        "local RSA sign (key object kept)": lambda: key_obj.sign(message, padding.PKCS1v15(), hashes.SHA256()),
        "local RSA sign (key freshly parsed, not kept)": lambda: _rsa(org.key_pem, validate=False).sign(
            message, padding.PKCS1v15(), hashes.SHA256()
        ),
        "aws-kms sign (moto)": None,
        "vault-transit sign (OpenBao)": None,
    }
    measured: dict[str, Callable[[], Any]] = {}
    for backend in backends:
        if backend.pending or backend.raw_fetch is None:
            continue
        ref = KeyRef.parse(backend.ref)
        measured[f"{backend.name}: backend's own read"] = backend.raw_fetch
        measured[f"{backend.name}: host.fetch_key + wipe"] = functools.partial(_fetch_wipe, host, ref)
        measured[f"{backend.name}: open_signer (fetch+parse+wipe)"] = functools.partial(_open_close, ref, host)
        measured[f"{backend.name}: mint_assertion (fetch+parse+sign)"] = functools.partial(creds.mint_assertion, ref)
    measured["floor: jwt.encode with a kept key object"] = lambda: jwt.encode(
        {"iss": "x", "sub": "y", "aud": "z", "exp": 1}, key_obj, algorithm="RS256"
    )
    for name, fn in signers.items():
        if fn is not None:
            measured[name] = fn
    for fn in measured.values():
        fn()
    samples: dict[str, list[float]] = {name: [] for name in measured}
    for _ in range(rounds):
        for name, fn in measured.items():
            samples[name].append(timed_ms(fn))
    creds.close()
    stats = {name: summarize(values) for name, values in samples.items()}
    overhead: dict[str, float] = {}
    code_overhead: dict[str, float] = {}
    for backend in backends:
        if backend.pending:
            continue
        mint = stats[f"{backend.name}: mint_assertion (fetch+parse+sign)"]["median"]
        own = stats[f"{backend.name}: backend's own read"]["median"]
        floor = stats["floor: jwt.encode with a kept key object"]["median"]
        overhead[backend.name] = mint - own - floor
        # The same, against a sign with a freshly parsed key: what the library's own code adds once the
        # cost of not keeping the key (OpenSSL's per-key setup on its first private-key operation) is
        # set apart.
        fresh = stats["local RSA sign (key freshly parsed, not kept)"]["median"]
        kept = stats["local RSA sign (key object kept)"]["median"]
        code_overhead[backend.name] = mint - own - floor - (fresh - kept)
    pending = [b.name for b in backends if b.pending] + [n for n, fn in signers.items() if fn is None]
    return {
        "unit": "ms",
        "rounds": rounds,
        "stats": stats,
        "overhead_ms": overhead,
        "code_overhead_ms": code_overhead,
        "pending": pending,
    }


def _fetch_wipe(host: PluginHost, ref: KeyRef) -> None:
    host.fetch_key(ref).wipe()


def _open_close(ref: KeyRef, host: PluginHost) -> None:
    with open_signer(ref, host):
        pass


# -- 6. a fleet on a cold shared cache -------------------------------------------------------------------


def fleet_burst(org: Org, processes: int, threads: int, repeats: int) -> dict[str, Any]:
    """Item 6: `processes` processes x `threads` threads on a cold cache, with no shared cache (one login
    per process) and with the DynamoDB+KMS shared cache on a moto server (and Vault KV+Transit on an
    OpenBao dev server when `bao` is installed). Exchanges per burst and the fleet's burst wall time.
    moto serves one request at a time here (tests/fleet/serial_moto.py), so its row is a slow store."""
    import shutil
    import tempfile

    import boto3

    from tests.aws.conftest import stop
    from tests.fleet.serial_moto import start_serial_moto
    from tests.fleet.worker import run_fleet
    from tests.vault.conftest import start_dev_server

    tmp = Path(tempfile.mkdtemp(prefix="sfjwt-bench-fleet-"))
    moto_url, moto = start_serial_moto(tmp)  # atomic conditional writes, as DynamoDB's
    aws = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_ENDPOINT_URL": moto_url}
    aws.update(AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    has_bao = shutil.which("bao") or (Path(sys.executable).parent / "bao").exists()
    bao = start_dev_server(tmp) if has_bao else None
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VAULT_", "BAO_"))}
    settings = {
        "token_url": org.emulator.token_url,
        "audience": org.emulator.audience,
        "consumer_key": org.consumer_key,
        "username": org.username,
        "key": f"file:{org.key_path}",
        "threads": threads,
        "verify": str(org.ca_path),
    }
    try:
        session = boto3.session.Session(aws["AWS_ACCESS_KEY_ID"], aws["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")
        ddb, kms = (session.client(service, endpoint_url=moto_url) for service in ("dynamodb", "kms"))
        key_id = kms.create_key(KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
        if bao is not None:
            import hvac

            admin = hvac.Client(url=bao.addr, token=bao.token)
            admin.sys.enable_secrets_engine("transit", path="transit")
            admin.write("transit/keys/sfjwt-cache", type="aes256-gcm96", derived=True)

        def cache_for(kind: str) -> str:  # a fresh table / prefix: a cold shared cache each round
            if kind == "dynamodb":
                table = f"bench-fleet-{uuid.uuid4().hex[:8]}"
                ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                 AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                                 BillingMode="PAY_PER_REQUEST")  # fmt: skip
                return f"dynamodb:{table}?kms_key={key_id}"
            return f"vault-kv:secret/bench-{uuid.uuid4().hex[:8]}?transit=transit/sfjwt-cache"

        kinds = {"no shared cache": ("local", base), "DynamoDB + KMS (moto)": ("dynamodb", {**base, **aws})}
        if bao is not None:
            vault = {"VAULT_ADDR": bao.addr, "VAULT_TOKEN": bao.token}
            kinds["Vault KV + Transit (OpenBao dev)"] = ("vault", {**base, **vault})
        rows: dict[str, Any] = {}
        for name, (kind, env) in kinds.items():
            counts, walls = [], []
            for _ in range(repeats):
                before = org.emulator.exchange_count
                cache = "local" if kind == "local" else cache_for(kind)
                reports, wall = run_fleet({**settings, "cache": cache}, processes, env=env)
                errors = [e for r in reports for e in r["errors"]]
                if errors:
                    raise RuntimeError(f"fleet burst ({name}): {len(errors)} errors: {sorted(set(errors))}")
                counts.append(org.emulator.exchange_count - before)
                walls.append(wall)
            rows[name] = {"exchanges": counts, "wall_ms": summarize(walls)}
    finally:
        stop(moto)
        if bao is not None:
            bao.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return {"processes": processes, "threads": threads, "repeats": repeats, "rows": rows}
