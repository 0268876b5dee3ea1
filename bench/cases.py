"""The measurements. Each function takes an `Org` (a started TLS emulator) and a size, returns a dict.

Contenders of one comparison are measured in the same run and interleaved round by round (A B C, A B C,
...), so a noisy neighbour on this shared machine slows all of them alike.
"""

from __future__ import annotations

import asyncio
import base64
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
import sfjwt_vault_aws
import sfjwt_vault_file
import sfjwt_vault_hashicorp
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from sfjwt_vault import Credentials
from sfjwt_vault.cache import TokenCache
from sfjwt_vault.certs import certificate_pem, self_signed_certificate
from sfjwt_vault.keyref import KeyRef
from sfjwt_vault.keys import open_signer
from sfjwt_vault.plugins import PluginHost

from .harness import LOGIN_TOKEN_URL, Org, interleaved_ms, routed_to, summarize
from .servers import KV_MOUNT, TRANSIT_MOUNT, Backends

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


def all_host() -> PluginHost:
    """The file, aws and vault backends, registered the way their entry points would be."""
    host = file_host()
    host.register(sfjwt_vault_aws, "aws")
    host.register(sfjwt_vault_hashicorp, "vault")
    return host


def credentials(org: Org, host: PluginHost, *, via_login_name: bool = True, **kw: Any) -> Credentials:
    """This library's Credentials for the org, with a private cache unless one is given."""
    kw.setdefault("cache", TokenCache())
    return Credentials(
        org.consumer_key,
        org.username,
        f"file:{org.key_path}",
        token_url=LOGIN_TOKEN_URL if via_login_name else org.emulator.token_url,
        verify=str(org.bundle_path),
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
        self.client = httpx.Client(verify=ssl.create_default_context(cafile=str(org.bundle_path)))

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


READING_FLOOR = "floor, key read + parsed per login"
REMINT = "sfjwt-vault get_token(force_refresh=True)"
NEW_OBJECT = "sfjwt-vault, new Credentials each login"


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
            READING_FLOOR: floor.login_reading_key,
            REMINT: library,
            NEW_OBJECT: library_new_credentials,
            "simple-salesforce Salesforce(privatekey_file=...)": simple_salesforce,
        }
        before = org.emulator.tokens_issued
        samples = interleaved_ms(contenders, rounds)  # the warm-up covers imports and first connections
        issued = org.emulator.tokens_issued - before
        creds.close()
        floor.close()
    stats = {name: summarize(values) for name, values in samples.items()}
    floor_median = stats["floor (hand-written)"]["median"]
    for entry in stats.values():
        entry["ratio_to_floor"] = entry["median"] / floor_median
    expected = len(contenders) * (rounds + 1)
    reused = stats[REMINT]["median"]
    return {
        "unit": "ms",
        "rounds": rounds,
        "tokens_issued": issued,
        "expected_tokens": expected,
        "stats": stats,
        "remint_to_reading_floor": reused / stats[READING_FLOOR]["median"],
        "new_object_to_reused": stats[NEW_OBJECT]["median"] / reused,
    }


def construction(org: Org, calls: int, batches: int = 50) -> dict[str, Any]:
    """`Credentials(...)` as a Lambda handler writes it per invocation: µs per object, built in batches."""
    per_batch = max(calls // batches, 1)
    samples: list[float] = []
    args = (org.consumer_key, org.username, f"file:{org.key_path}")
    for _ in range(batches):
        started = time.perf_counter()
        for _ in range(per_batch):
            Credentials(*args, token_url=LOGIN_TOKEN_URL, verify=str(org.bundle_path))
        samples.append((time.perf_counter() - started) * 1e6 / per_batch)
    return {"unit": "µs per object", "calls": per_batch * batches, "stats": summarize(samples)}


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
                  "boto3": "boto3" in sys.modules, "hvac": "hvac" in sys.modules,
                  "modules": sorted({{m.split(".")[0] for m in sys.modules}})}}))
"""

_IMPORT_INCREMENT = """
import time, sys, json
{deps}
_t0 = time.perf_counter()
{code}
_t1 = time.perf_counter()
print(json.dumps({{"in_process_ms": (_t1 - _t0) * 1000,
                  "boto3": "boto3" in sys.modules, "hvac": "hvac" in sys.modules}}))
"""

# What "with a backend" imports on top of its SDK: the core, the plugin and every module the plugin
# imports on its first use (aws: _secrets/_kms and what they pull in; vault: all at plugin import).
BACKEND_IMPORTS = {
    "": "import sfjwt_vault",
    "aws": "import sfjwt_vault, sfjwt_vault_aws, sfjwt_vault_aws.secretsmanager, sfjwt_vault_aws.kms",
    "vault": "import sfjwt_vault, sfjwt_vault_hashicorp",
}
BACKEND_SDK = {"": "", "aws": "\nimport boto3", "vault": "\nimport hvac"}

_FIRST_LOGIN_CODE = """
import os
from sfjwt_vault import Credentials
_token = Credentials(os.environ["B_CK"], os.environ["B_USER"], os.environ["B_KEY"],
                     token_url=os.environ["B_URL"], verify=os.environ["B_CA"]).get_token()
assert _token.access_token
"""

# The hand-written script the first token is compared with: the same key file (loaded with
# cryptography's defaults, full validation included), the same CA bundle, the same endpoint.
_SCRIPT_CODE = """
import os, ssl, time, uuid
import httpx, jwt
from cryptography.hazmat.primitives.serialization import load_pem_private_key
with open(os.environ["B_KEYFILE"], "rb") as handle:
    _key = load_pem_private_key(handle.read(), None)
_now = int(time.time())
_claims = {"iss": os.environ["B_CK"], "sub": os.environ["B_USER"], "aud": "https://login.salesforce.com",
           "exp": _now + 180, "iat": _now, "jti": uuid.uuid4().hex}
_assertion = jwt.encode(_claims, _key, algorithm="RS256")
with httpx.Client(verify=ssl.create_default_context(cafile=os.environ["B_CA"])) as _client:
    _response = _client.post(os.environ["B_URL"], data={
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": _assertion})
assert _response.json()["access_token"]
"""

FIRST_FILE = "first token, file: backend"
SCRIPT_FIRST = "first token, hand-written script (httpx + PyJWT + cryptography)"
FIRST_AWS = "first token, aws-sm: backend (moto)"
FIRST_VAULT = "first token, vault: backend (OpenBao KV v2)"
BASE_AWS = "baseline: core deps + import boto3"
BASE_VAULT = "baseline: core deps + import hvac"
READ_AWS = "baseline: core deps + boto3's own first get_secret_value"
READ_VAULT = "baseline: core deps + hvac's own first read_secret_version"
# first-token row -> (the SDK's own first read, the plugin's top-level package)
BACKEND_ROWS = {FIRST_AWS: (READ_AWS, "sfjwt_vault_aws"), FIRST_VAULT: (READ_VAULT, "sfjwt_vault_hashicorp")}

_SDK_READ = {
    "aws": """
import os, boto3
boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["B_SECRET"], VersionStage="AWSCURRENT")
""",
    "vault": """
import os, hvac
hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"]).secrets.kv.v2.read_secret_version(
    path=os.environ["B_PATH"], mount_point=os.environ["B_MOUNT"], raise_on_deleted_version=True)
""",
}


def cold_start_scenarios(org: Org, backends: Backends) -> list[ColdStart]:
    """Every cold-start row. A backend adds one entry here (and one baseline); see docs/performance.md."""
    token_env = {
        "B_CK": org.consumer_key,
        "B_USER": org.username,
        "B_URL": org.emulator.token_url,
        "B_CA": str(org.bundle_path),
        "B_KEYFILE": str(org.key_path),
    }
    return [
        ColdStart("python -c pass (interpreter floor)", "pass"),
        ColdStart("baseline: import httpx+jwt+cryptography+pluggy", CORE_DEPS),
        ColdStart("import sfjwt_vault", "import sfjwt_vault"),
        ColdStart(FIRST_FILE, _FIRST_LOGIN_CODE, env={**token_env, "B_KEY": f"file:{org.key_path}"}),
        ColdStart(SCRIPT_FIRST, _SCRIPT_CODE, env=token_env),
        ColdStart(BASE_AWS, CORE_DEPS + BACKEND_SDK["aws"]),
        ColdStart(BASE_VAULT, CORE_DEPS + BACKEND_SDK["vault"]),
        ColdStart(READ_AWS, CORE_DEPS + _SDK_READ["aws"], env={**backends.aws_env, "B_SECRET": backends.secret_id}),
        ColdStart(
            READ_VAULT,
            CORE_DEPS + _SDK_READ["vault"],
            env={**backends.vault_env, "B_PATH": backends.kv_path, "B_MOUNT": KV_MOUNT},
        ),
        ColdStart(FIRST_AWS, _FIRST_LOGIN_CODE, env={**token_env, **backends.aws_env, "B_KEY": backends.sm_ref}),
        ColdStart(FIRST_VAULT, _FIRST_LOGIN_CODE, env={**token_env, **backends.vault_env, "B_KEY": backends.kv_ref}),
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


def cold_start(org: Org, runs: int, backends: Backends) -> dict[str, Any]:
    """Item 4: wall time of a fresh interpreter per scenario, and the import increment of sfjwt_vault
    (alone after its deps, and with each backend after its deps and its SDK)."""
    scenarios = cold_start_scenarios(org, backends)
    samples: dict[str, list[float]] = {s.name: [] for s in scenarios if not s.pending}
    in_process: dict[str, list[float]] = {s.name: [] for s in scenarios if not s.pending}
    flags: dict[str, dict[str, bool]] = {}
    modules: dict[str, set[str]] = {}
    increments: dict[str, list[float]] = {name: [] for name in BACKEND_IMPORTS}
    exchanges_before = org.emulator.exchange_count
    for run in range(runs):
        start = run % len(scenarios)  # each scenario takes each place in the round equally often
        for scenario in scenarios[start:] + scenarios[:start]:
            if scenario.pending:
                continue
            wall, done = _run_child(_TIMED.format(code=scenario.code), _child_env(scenario.env))
            report = json.loads(done.stdout.strip().splitlines()[-1])
            samples[scenario.name].append(wall)
            in_process[scenario.name].append(report["in_process_ms"])
            flags[scenario.name] = {"boto3": report["boto3"], "hvac": report["hvac"]}
            modules[scenario.name] = set(report["modules"])
        for backend, code in BACKEND_IMPORTS.items():
            deps = CORE_DEPS + BACKEND_SDK[backend]
            _, done = _run_child(_IMPORT_INCREMENT.format(deps=deps, code=code), _child_env({}))
            report = json.loads(done.stdout.strip().splitlines()[-1])
            increments[backend].append(report["in_process_ms"])
            if not backend:
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
    # Top-level packages a backend's first token loads beyond its SDK's own first read and the file:
    # first token.
    extra_modules = {
        name: sorted(modules[name] - modules[baseline] - modules[FIRST_FILE] - {plugin})
        for name, (baseline, plugin) in BACKEND_ROWS.items()
    }
    sdk_free = ("import sfjwt_vault", FIRST_FILE, "import sfjwt_vault after its deps")
    return {
        "runs": runs,
        "scenarios": rows,
        "import_increment_ms": summarize(increments[""]),
        "backend_import_increment_ms": {b: summarize(v) for b, v in increments.items() if b},
        "backend_extra_modules": extra_modules,
        "imports_boto3_or_hvac": any(f["boto3"] or f["hvac"] for n, f in flags.items() if n in sdk_free),
        "aws_first_token_imports_hvac": flags[FIRST_AWS]["hvac"],
        "vault_first_token_imports_boto3": flags[FIRST_VAULT]["boto3"],
        "first_token_exchanges": org.emulator.exchange_count - exchanges_before,
        "first_token_to_script": rows[FIRST_FILE]["wall_ms"]["median"] / rows[SCRIPT_FIRST]["wall_ms"]["median"],
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


def _raw_sm_read(backends: Backends) -> Callable[[], Any]:
    def read() -> Any:
        return backends.sm.get_secret_value(SecretId=backends.secret_id, VersionStage="AWSCURRENT")

    return read


def _raw_kv_read(backends: Backends) -> Callable[[], Any]:
    def read() -> Any:
        return backends.vault.secrets.kv.v2.read_secret_version(
            path=backends.kv_path, mount_point=KV_MOUNT, raise_on_deleted_version=True
        )

    return read


def raw_signers(backends: Backends) -> dict[str, Callable[[bytes], bytes]]:
    """Each remote signer's own SDK call, as a hand-written client would make it."""

    def kms(message: bytes) -> bytes:
        response = backends.kms.sign(
            KeyId=backends.kms_key_id,
            Message=message,
            MessageType="RAW",
            SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256",
        )
        signature: bytes = response["Signature"]
        return signature

    def transit(message: bytes) -> bytes:
        response = backends.vault.secrets.transit.sign_data(
            name=backends.transit_key,
            hash_input=base64.b64encode(message).decode("ascii"),
            hash_algorithm="sha2-256",
            signature_algorithm="pkcs1v15",
            mount_point=TRANSIT_MOUNT,
        )
        return base64.b64decode(response["data"]["signature"].split(":", 2)[2])

    return {"aws-kms (moto)": kms, "vault-transit (OpenBao)": transit}


def remote_names() -> tuple[str, ...]:
    return ("aws-kms (moto)", "vault-transit (OpenBao)")


def remote_refs(backends: Backends) -> dict[str, str]:
    return {"aws-kms (moto)": backends.kms_ref, "vault-transit (OpenBao)": backends.transit_ref}


def key_latency(org: Org, rounds: int, backends: Backends) -> dict[str, Any]:
    """Item 5: fetch per backend and a whole mint (fetch, parse, sign) against its parts; remote signers'
    sign and mint against their SDK's raw sign call."""
    host = all_host()
    creds = credentials(org, host, via_login_name=False)
    key_obj = _rsa(org.key_pem)
    message = b"x" * 600  # about the size of an assertion's signing input
    backend_cases = [
        KeyBackendCase("file", f"file:{org.key_path}", _raw_file_read(org.key_path)),
        KeyBackendCase("aws-sm (moto)", backends.sm_ref, _raw_sm_read(backends)),
        KeyBackendCase("vault KV v2 (OpenBao)", backends.kv_ref, _raw_kv_read(backends)),
    ]
    measured: dict[str, Callable[[], Any]] = {}
    for backend in backend_cases:
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
    measured["local RSA sign (key object kept)"] = lambda: key_obj.sign(message, padding.PKCS1v15(), hashes.SHA256())
    measured["local RSA sign (key freshly parsed, not kept)"] = lambda: _rsa(org.key_pem, validate=False).sign(
        message, padding.PKCS1v15(), hashes.SHA256()
    )
    raw = raw_signers(backends)
    for name, ref_text in remote_refs(backends).items():
        ref = KeyRef.parse(ref_text)
        signer = host.remote_signer(ref)
        if signer is None:
            raise RuntimeError(f"{ref_text}: no remote signer")
        measured[f"{name}: SDK's raw sign"] = functools.partial(raw[name], message)
        measured[f"{name}: our signer's sign (signer kept)"] = functools.partial(signer.sign, message)
        measured[f"{name}: mint_assertion (remote sign)"] = functools.partial(creds.mint_assertion, ref)
    samples = interleaved_ms(measured, rounds)
    creds.close()
    stats = {name: summarize(values) for name, values in samples.items()}
    floor = stats["floor: jwt.encode with a kept key object"]["median"]
    fresh = stats["local RSA sign (key freshly parsed, not kept)"]["median"]
    kept = stats["local RSA sign (key object kept)"]["median"]
    overhead: dict[str, float] = {}
    code_overhead: dict[str, float] = {}
    for backend in backend_cases:
        mint = stats[f"{backend.name}: mint_assertion (fetch+parse+sign)"]["median"]
        own = stats[f"{backend.name}: backend's own read"]["median"]
        overhead[backend.name] = mint - own - floor
        # The same, against a sign with a freshly parsed key: what the library's own code adds once the
        # cost of not keeping the key (OpenSSL's per-key setup on its first private-key operation) is
        # set apart.
        code_overhead[backend.name] = mint - own - floor - (fresh - kept)
    for name in raw:
        # A remote mint is the JWT floor with its local sign replaced by the SDK's raw sign call.
        mint = stats[f"{name}: mint_assertion (remote sign)"]["median"]
        own = stats[f"{name}: SDK's raw sign"]["median"]
        overhead[name] = mint - own - (floor - kept)
        code_overhead[name] = overhead[name]
    sign_overhead = {
        name: stats[f"{name}: our signer's sign (signer kept)"]["median"] - stats[f"{name}: SDK's raw sign"]["median"]
        for name in raw
    }
    pending = [b.name for b in backend_cases if b.pending]
    return {
        "unit": "ms",
        "rounds": rounds,
        "stats": stats,
        "overhead_ms": overhead,
        "code_overhead_ms": code_overhead,
        "sign_overhead_ms": sign_overhead,
        "pending": pending,
    }


# -- 6. a full login through a remote signer -------------------------------------------------------


def remote_login(org: Org, rounds: int, backends: Backends) -> dict[str, Any]:
    """Item 5b: a cold login (assertion signed remotely, exchanged over TLS) against a hand-written
    floor that builds the JWT itself, signs with the SDK's raw call and posts on a kept-alive client."""
    host = all_host()
    raw = raw_signers(backends)
    contenders: dict[str, Callable[[], Any]] = {}
    closers: list[Callable[[], None]] = []
    for name, ref_text in remote_refs(backends).items():
        signer = host.remote_signer(KeyRef.parse(ref_text))
        if signer is None:
            raise RuntimeError(f"{ref_text}: no remote signer")
        app = org.emulator.add_app(certificate_pem(self_signed_certificate(signer)))
        floor = RemoteFloor(org, app.consumer_key, raw[name])
        creds = Credentials(
            app.consumer_key,
            org.username,
            ref_text,
            token_url=org.emulator.token_url,
            verify=str(org.ca_path),
            plugin_host=host,
            cache=TokenCache(),
        )
        contenders[f"{name}: floor (hand-written JWT, raw sign, kept-alive POST)"] = floor.login
        contenders[f"{name}: sfjwt-vault get_token(force_refresh=True)"] = functools.partial(
            creds.get_token, force_refresh=True
        )
        closers += [floor.close, creds.close]
    before = org.emulator.tokens_issued
    samples = interleaved_ms(contenders, rounds)
    issued = org.emulator.tokens_issued - before
    for close in closers:
        close()
    stats = {name: summarize(values) for name, values in samples.items()}
    overhead = {
        name: stats[f"{name}: sfjwt-vault get_token(force_refresh=True)"]["median"]
        - stats[f"{name}: floor (hand-written JWT, raw sign, kept-alive POST)"]["median"]
        for name in raw
    }
    return {
        "unit": "ms",
        "rounds": rounds,
        "stats": stats,
        "overhead_ms": overhead,
        "tokens_issued": issued,
        "expected_tokens": len(contenders) * (rounds + 1),
    }


class RemoteFloor:
    """The floor for a remote key: the JWT built by hand, signed by the SDK's raw call, one client."""

    HEADER = base64.urlsafe_b64encode(b'{"alg":"RS256","typ":"JWT"}').rstrip(b"=")

    def __init__(self, org: Org, consumer_key: str, sign: Callable[[bytes], bytes]) -> None:
        self.consumer_key, self.username, self.sign = consumer_key, org.username, sign
        self.audience, self.url = org.emulator.audience, org.emulator.token_url
        self.client = httpx.Client(verify=ssl.create_default_context(cafile=str(org.ca_path)))

    def login(self) -> str:
        now = int(time.time())
        claims = {
            "iss": self.consumer_key,
            "sub": self.username,
            "aud": self.audience,
            "exp": now + 180,
            "iat": now,
            "jti": uuid.uuid4().hex,
        }
        body = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).rstrip(b"=")
        signing_input = self.HEADER + b"." + body
        signature = base64.urlsafe_b64encode(self.sign(signing_input)).rstrip(b"=")
        assertion = (signing_input + b"." + signature).decode("ascii")
        response = self.client.post(self.url, data={"grant_type": GRANT, "assertion": assertion})
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token

    def close(self) -> None:
        self.client.close()


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

    from tests.fleet.serial_moto import start_serial_moto
    from tests.fleet.worker import run_fleet
    from tests.servers import start_dev_server, stop

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
