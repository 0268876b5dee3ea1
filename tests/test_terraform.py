"""Static tests of the least-privilege promises made by terraform/.

The modules cannot be planned offline, so these tests parse the HCL with
python-hcl2 and check the IAM / KMS / Vault policy documents directly. Every
checker returns a list of violations; the mutation tests at the bottom feed
each checker a deliberately broken copy of the modules to prove it would fail.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2  # python-hcl2 (dev extra); deliberately not importorskip: a missing dep must fail loudly
import pytest

ROOT = Path(__file__).resolve().parent.parent / "terraform"
AWS = ROOT / "modules" / "aws"
VAULT = ROOT / "modules" / "vault"


# --------------------------------------------------------------------------- #
# Loading: normalise python-hcl2 output across versions (v7+ keeps the quotes
# of string literals and labels and adds "__is_block__" markers).
# --------------------------------------------------------------------------- #


def _norm(value: Any) -> Any:
    if isinstance(value, dict):
        return {_norm(k): _norm(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _blocks(entries: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """[{type: {name: body}}, ...] -> {type: {name: body}}."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for entry in entries:
        for type_, named in entry.items():
            for name, body in named.items():
                out.setdefault(type_, {})[name] = body
    return out


class Module:
    def __init__(self, files: dict[str, str]) -> None:
        self.text = files
        self.resource: dict[str, dict[str, dict[str, Any]]] = {}
        self.data: dict[str, dict[str, dict[str, Any]]] = {}
        self.locals: dict[str, Any] = {}
        self.variable: dict[str, dict[str, Any]] = {}
        self.output: dict[str, dict[str, Any]] = {}
        for text in files.values():
            parsed = _norm(hcl2.loads(text))
            for kind in ("resource", "data"):
                for type_, named in _blocks(parsed.get(kind, [])).items():
                    getattr(self, kind).setdefault(type_, {}).update(named)
            for block in parsed.get("locals", []):
                self.locals.update(block)
            for block in parsed.get("variable", []):
                self.variable.update(block)
            for block in parsed.get("output", []):
                self.output.update(block)

    @classmethod
    def load(cls, directory: Path) -> Module:
        return cls({p.name: p.read_text() for p in sorted(directory.glob("*.tf"))})

    def mutated(self, filename: str, old: str, new: str) -> Module:
        assert old in self.text[filename], f"mutation anchor not found: {old!r}"
        files = dict(self.text)
        files[filename] = files[filename].replace(old, new, 1)
        return Module(files)

    def resolve(self, value: Any) -> Any:
        """Replace a value that is exactly `${local.x}` by the local's value."""
        for _ in range(10):
            if isinstance(value, str):
                m = re.fullmatch(r"\$\{local\.([A-Za-z0-9_]+)\}", value)
                if m and m.group(1) in self.locals:
                    value = self.locals[m.group(1)]
                    continue
            return value
        raise AssertionError("local reference loop")

    def resolve_list(self, value: Any) -> list[Any]:
        value = self.resolve(value)
        if value is None:
            return []
        if not isinstance(value, list):
            value = [value]
        return [self.resolve(v) for v in value]

    def policy_docs(self) -> dict[str, dict[str, Any]]:
        return self.data.get("aws_iam_policy_document", {})


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Static and dynamic statements of an aws_iam_policy_document."""
    out = list(_as_list(doc.get("statement")))
    for dyn in _as_list(doc.get("dynamic")):
        for label, body in dyn.items():
            if label == "statement":
                out.extend(_as_list(body.get("content")))
    return out


def principals(st: dict[str, Any]) -> list[dict[str, Any]]:
    return _as_list(st.get("principals"))


def conditions(st: dict[str, Any]) -> list[dict[str, Any]]:
    return _as_list(st.get("condition"))


def vault_rules(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return _as_list(doc.get("rule"))


@pytest.fixture(scope="module")
def aws() -> Module:
    return Module.load(AWS)


@pytest.fixture(scope="module")
def vault() -> Module:
    return Module.load(VAULT)


def all_tf_files() -> list[Path]:
    return sorted(ROOT.rglob("*.tf"))


# --------------------------------------------------------------------------- #
# Checkers (return violations)
# --------------------------------------------------------------------------- #

WILDCARD_ACTION = re.compile(r"^(\*|[a-z0-9-]+:\*)$")


def check_no_wildcards(mod: Module) -> list[str]:
    bad = []
    for name, doc in mod.policy_docs().items():
        for st in statements(doc):
            for key in ("not_actions", "not_resources"):
                if key in st:
                    bad.append(f"{name}: {key} used")
            actions = mod.resolve_list(st.get("actions"))
            if not actions:
                bad.append(f"{name}: statement without actions")
            for action in actions:
                if not isinstance(action, str) or WILDCARD_ACTION.match(action):
                    bad.append(f"{name}: wildcard action {action!r}")
            resources = mod.resolve_list(st.get("resources"))
            if name != "assume_role" and not resources:
                bad.append(f"{name}: statement without resources")
            for res in resources:
                # Every resource must name a resource of this module.
                if res == "*" or "${aws_" not in str(res):
                    bad.append(f"{name}: resource {res!r} is not a module resource")
            for pr in principals(st):
                for ident in mod.resolve_list(pr.get("identifiers")):
                    if ident == "*":
                        bad.append(f"{name}: wildcard principal")
    return bad


# Text-level scan, covering policies written with jsonencode() or heredocs.
_POLICY_ARRAY = re.compile(
    r"\b(Action|NotAction|Resource|NotResource|actions|resources|not_actions|not_resources"
    r"|Principal|identifiers)\b\"?\s*[=:]\s*(\[[^\]]*\]|\"[^\"]*\"|\{[^}]*\})",
    re.S,
)


def scan_text_for_wildcards(text: str) -> list[str]:
    bad = []
    for key, value in _POLICY_ARRAY.findall(text):
        for literal in re.findall(r"\"([^\"]*)\"", value):
            if literal == "*" or (
                key in ("Action", "NotAction", "actions", "not_actions") and WILDCARD_ACTION.match(literal)
            ):
                bad.append(f"{key} = {literal!r}")
    return bad


def check_no_secret_values(mod: Module) -> list[str]:
    bad = []
    for type_, named in mod.resource.items():
        for name, body in named.items():
            if type_ == "aws_secretsmanager_secret_version" and ("secret_string" in body or "secret_binary" in body):
                bad.append(f"{type_}.{name} puts a secret value in state")
            if type_ in ("vault_kv_secret_v2", "vault_kv_secret", "vault_generic_secret"):
                bad.append(f"{type_}.{name} puts a secret value in state")
            if type_ == "vault_approle_auth_backend_role_secret_id":
                bad.append(f"{type_}.{name} puts an AppRole SecretID in state")
    return bad


def check_reads_exactly_one_secret(mod: Module) -> list[str]:
    bad = []
    get = []
    for name, doc in mod.policy_docs().items():
        for st in statements(doc):
            actions = mod.resolve_list(st.get("actions"))
            sm = [a for a in actions if a.startswith("secretsmanager:")]
            if "secretsmanager:GetSecretValue" in sm:
                get.append((name, st))
            if name == "read_secret" and sm and sm != ["secretsmanager:GetSecretValue"]:
                bad.append(f"read_secret grants {sm}")
    if [n for n, _ in get] != ["read_secret"]:
        bad.append(f"GetSecretValue granted by {[n for n, _ in get]}, expected only read_secret")
    for _, st in get:
        if mod.resolve_list(st.get("resources")) != ["${aws_secretsmanager_secret.this[0].arn}"]:
            bad.append(f"GetSecretValue on {st.get('resources')}")
        stages = [
            v
            for c in conditions(st)
            if c.get("variable") == "secretsmanager:VersionStage"
            for v in mod.resolve_list(c.get("values"))
        ]
        if not stages or not set(stages) <= {"AWSCURRENT", "AWSPREVIOUS"}:
            bad.append(f"GetSecretValue not limited to AWSCURRENT/AWSPREVIOUS: {stages}")
    return bad


def check_role_policies(mod: Module) -> list[str]:
    """The Lambda role only gets the logs/read_secret/sign/shared_cache documents."""
    bad = []
    allowed = {"logs", "read_secret", "sign", "shared_cache"}
    for name, body in mod.resource.get("aws_iam_role_policy", {}).items():
        m = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.([a-z_]+)(\[0\])?\.json\}", body["policy"])
        if not m or m.group(1) not in allowed:
            bad.append(f"aws_iam_role_policy.{name} attaches {body['policy']}")
    for type_ in (
        "aws_iam_role_policy_attachment",
        "aws_iam_policy_attachment",
        "aws_iam_role_policies_exclusive",
        "aws_iam_role_policy_attachments_exclusive",
    ):
        if type_ in mod.resource:
            bad.append(f"{type_} used (managed policies are not least privilege)")
    role = mod.resource["aws_iam_role"]["lambda"]
    if "managed_policy_arns" in role or "inline_policy" in role:
        bad.append("aws_iam_role.lambda carries its own policies")
    return bad


# The token cache's documents are held to their own promises (check_shared_cache).
CACHE_DOCS = ("shared_cache", "cache_token_key_policy", "cache_table_key_policy")


def check_decrypt_via_secrets_manager(mod: Module) -> list[str]:
    bad = []
    for name, doc in mod.policy_docs().items():
        if name in CACHE_DOCS:
            continue
        for st in statements(doc):
            if "kms:Decrypt" not in mod.resolve_list(st.get("actions")):
                continue
            if name == "logs_key_policy":
                # Only the CloudWatch Logs service, only for the one log group.
                services = [
                    i
                    for p in principals(st)
                    if p.get("type") == "Service"
                    for i in mod.resolve_list(p.get("identifiers"))
                ]
                ctx = [c for c in conditions(st) if c.get("variable") == "kms:EncryptionContext:aws:logs:arn"]
                if not services or any(not s.startswith("logs.") for s in services) or not ctx:
                    bad.append("logs key Decrypt not limited to CloudWatch Logs for the log group")
                continue
            via = [
                v
                for c in conditions(st)
                if c.get("variable") == "kms:ViaService" and c.get("test") == "StringEquals"
                for v in mod.resolve_list(c.get("values"))
            ]
            if not via or any(not str(v).startswith("secretsmanager.") for v in via):
                bad.append(f"{name}: kms:Decrypt without kms:ViaService=secretsmanager.<region>")
    return bad


def check_signing_key(mod: Module) -> list[str]:
    bad = []
    key = mod.resource["aws_kms_key"]["signing"]
    if key.get("key_usage") != "SIGN_VERIFY":
        bad.append("signing key is not SIGN_VERIFY")
    if key.get("customer_master_key_spec") != "${var.signing_key_spec}":
        bad.append("signing key spec is not the signing_key_spec variable")
    docs = mod.policy_docs()
    role = "${aws_iam_role.lambda.arn}"
    granted: set[str] = set()
    for st in statements(docs["signing_key_policy"]):
        idents = [i for p in principals(st) for i in mod.resolve_list(p.get("identifiers"))]
        if role in idents:
            granted |= set(mod.resolve_list(st.get("actions")))
    for st in statements(docs["sign"]):
        granted |= set(mod.resolve_list(st.get("actions")))
        if mod.resolve_list(st.get("resources")) != ["${aws_kms_key.signing[0].arn}"]:
            bad.append(f"sign policy on {st.get('resources')}")
    if granted != {"kms:Sign", "kms:GetPublicKey"}:
        bad.append(f"role gets {sorted(granted)} on the signing key")
    # The role must get nothing on the signing key from any other document.
    for name, doc in docs.items():
        if name in ("sign", "signing_key_policy", "operator"):
            continue
        for st in statements(doc):
            if "${aws_kms_key.signing[0].arn}" in mod.resolve_list(st.get("resources")):
                bad.append(f"{name} grants on the signing key")
    return bad


CACHE_TABLE = "${aws_dynamodb_table.token_cache[0].arn}"
CACHE_TOKEN_KEY = "${aws_kms_key.cache_token[0].arn}"
CACHE_TABLE_KEY = "${aws_kms_key.cache_table[0].arn}"
CACHE_ITEM_ACTIONS = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}


def _context_bound(mod: Module, st: dict[str, Any]) -> bool:
    """Encryption context keys must be present (Null = false) and all be sfjwt:cache."""
    conds = {(c.get("test"), c.get("variable")): mod.resolve_list(c.get("values")) for c in conditions(st)}
    keys = conds.get(("ForAllValues:StringEquals", "kms:EncryptionContextKeys"))
    present = conds.get(("Null", "kms:EncryptionContextKeys"))
    return keys == ["sfjwt:cache"] and present in (["false"], [False])


def check_shared_cache(mod: Module) -> list[str]:
    """The role's DynamoDB actions only on the one table; kms:Encrypt/Decrypt on the token key only with
    the sfjwt:cache encryption context; the table key only through DynamoDB; TTL, PITR and SSE on."""
    bad = []
    if mod.resolve("${local.cache_context_key}") != "sfjwt:cache":
        bad.append("the encryption context key is not sfjwt:cache")
    role = "${aws_iam_role.lambda.arn}"
    for name, doc in mod.policy_docs().items():
        for st in statements(doc):
            actions = mod.resolve_list(st.get("actions"))
            resources = mod.resolve_list(st.get("resources"))
            idents = [i for p in principals(st) for i in mod.resolve_list(p.get("identifiers"))]
            dynamo = [a for a in actions if a.startswith("dynamodb:")]
            if dynamo and (
                name != "shared_cache" or not set(dynamo) <= CACHE_ITEM_ACTIONS or resources != [CACHE_TABLE]
            ):
                bad.append(f"{name}: {dynamo} on {resources}")
            if CACHE_TABLE in resources and set(actions) - CACHE_ITEM_ACTIONS:
                bad.append(f"{name}: {actions} on the cache table")
            usage = {"kms:Encrypt", "kms:Decrypt"} & set(actions)
            if CACHE_TOKEN_KEY in resources and (name == "shared_cache" or role in idents):
                if set(actions) != {"kms:Encrypt", "kms:Decrypt"} or resources != [CACHE_TOKEN_KEY]:
                    bad.append(f"{name}: role gets {actions} on {resources} for the token key")
                if not _context_bound(mod, st):
                    bad.append(f"{name}: token key usage not bound to the sfjwt:cache encryption context")
            if name == "shared_cache" and usage and resources != [CACHE_TOKEN_KEY]:
                bad.append(f"shared_cache: {sorted(usage)} on {resources}")
            if CACHE_TABLE_KEY in resources and role in idents:
                via = [
                    v
                    for c in conditions(st)
                    if c.get("variable") == "kms:ViaService" and c.get("test") == "StringEquals"
                    for v in mod.resolve_list(c.get("values"))
                ]
                if via != ["${local.dynamodb_service}"] and via != ["dynamodb.${local.region}.amazonaws.com"]:
                    bad.append(f"{name}: the role may use the table key outside DynamoDB")
    table = mod.resource["aws_dynamodb_table"]["token_cache"]
    ttl = _as_list(table.get("ttl"))
    if not ttl or ttl[0].get("enabled") is not True or ttl[0].get("attribute_name") != "ttl_epoch":
        bad.append("table TTL is not enabled on ttl_epoch")
    if not any(p.get("enabled") is True for p in _as_list(table.get("point_in_time_recovery"))):
        bad.append("table has no point-in-time recovery")
    sse = _as_list(table.get("server_side_encryption"))
    if not sse or sse[0].get("enabled") is not True or sse[0].get("kms_key_arn") != CACHE_TABLE_KEY:
        bad.append("table is not encrypted with its customer managed key")
    for key in ("cache_token", "cache_table"):
        if mod.resource["aws_kms_key"][key].get("enable_key_rotation") is not True:
            bad.append(f"{key} key does not rotate")
    return bad


def check_vault_shared_cache(mod: Module) -> list[str]:
    bad = []
    got = {}
    for rule in _vault_policy_rules(mod, "shared_cache"):
        got[mod.resolve(rule["path"])] = sorted(mod.resolve_list(rule.get("capabilities")))
    want = {
        "${local.kv_mount}/data/${var.cache_kv_prefix}/*": ["create", "read", "update"],
        "${local.transit_mount}/encrypt/${var.cache_transit_key_name}": ["update"],
        "${local.transit_mount}/decrypt/${var.cache_transit_key_name}": ["update"],
    }
    if got != want:
        bad.append(f"token cache policy is {got}, expected {want}")
    key = mod.resource["vault_transit_secret_backend_key"]["cache"]
    if key.get("type") != "aes256-gcm96" or key.get("derived") is not True:
        bad.append("token cache Transit key is not a derived aes256-gcm96 key")
    if key.get("exportable") is not False or key.get("allow_plaintext_backup") is not False:
        bad.append("token cache Transit key is exportable")
    return bad


def _vault_policy_rules(mod: Module, policy: str) -> list[dict[str, Any]]:
    body = mod.resource["vault_policy"][policy]
    m = re.fullmatch(r"\$\{data\.vault_policy_document\.([a-z_]+)(\[0\])?\.hcl\}", body["policy"])
    if m:
        return vault_rules(mod.data["vault_policy_document"][m.group(1)])
    # Inline HCL policy (heredoc): parse it as well.
    parsed = _norm(hcl2.loads(body["policy"]))
    return [{"path": path, **rule} for entry in parsed.get("path", []) for path, rule in entry.items()]


def check_kv_policy(mod: Module) -> list[str]:
    bad = []
    rules = _vault_policy_rules(mod, "kv_read")
    if len(rules) != 1:
        return [f"kv_read has {len(rules)} rules, expected exactly one"]
    rule = rules[0]
    path = mod.resolve(rule["path"])
    if not path.endswith("/data/${var.kv_secret_path}"):
        bad.append(f"kv_read path {path!r} is not <mount>/data/<path>")
    if "*" in path or "+" in path:
        bad.append(f"kv_read path {path!r} contains a glob")
    if mod.resolve_list(rule.get("capabilities")) != ["read"]:
        bad.append(f"kv_read capabilities {rule.get('capabilities')}")
    return bad


def check_transit_policy(mod: Module) -> list[str]:
    bad = []
    got = {}
    for rule in _vault_policy_rules(mod, "transit_sign"):
        path = mod.resolve(rule["path"])
        got[path] = sorted(mod.resolve_list(rule.get("capabilities")))
    want = {
        "${local.transit_mount}/sign/${var.transit_key_name}": ["update"],
        "${local.transit_mount}/keys/${var.transit_key_name}": ["read"],
    }
    if got != want:
        bad.append(f"transit policy is {got}, expected {want}")
    return bad


def check_vault_mounts_and_key(mod: Module) -> list[str]:
    bad = []
    kv = mod.resource["vault_mount"]["kv"]
    if kv.get("type") != "kv" or str(kv.get("options", {}).get("version")) != "2":
        bad.append("KV mount is not kv version 2")
    key = mod.resource["vault_transit_secret_backend_key"]["signing"]
    if key.get("exportable") is not False:
        bad.append("transit key is exportable")
    if key.get("allow_plaintext_backup") is not False:
        bad.append("transit key allows plaintext backup")
    if key.get("type") != "${var.transit_key_type}":
        bad.append("transit key type is not the transit_key_type variable")
    return bad


# --------------------------------------------------------------------------- #
# Tests on the real modules
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("path", all_tf_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_tf_file_parses(path: Path) -> None:
    hcl2.loads(path.read_text())


def test_layout() -> None:
    for rel in (
        "README.md",
        "check.sh",
        "modules/aws/README.md",
        "modules/vault/README.md",
        "examples/aws/main.tf",
        "examples/vault/main.tf",
    ):
        assert (ROOT / rel).is_file(), rel


def test_no_wildcard_in_iam_policy_documents(aws: Module) -> None:
    assert check_no_wildcards(aws) == []


@pytest.mark.parametrize("path", all_tf_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_wildcard_in_any_policy_text(path: Path) -> None:
    # Catches jsonencode()/heredoc policies the structured check cannot see.
    assert scan_text_for_wildcards(path.read_text()) == []


def test_policies_are_policy_documents(aws: Module) -> None:
    for type_ in ("aws_iam_role_policy", "aws_kms_key_policy"):
        for name, body in aws.resource.get(type_, {}).items():
            assert re.fullmatch(r"\$\{data\.aws_iam_policy_document\.[a-z_]+(\[0\])?\.json\}", body["policy"]), (
                f"{type_}.{name}"
            )
    assert aws.resource["aws_iam_role"]["lambda"]["assume_role_policy"] == (
        "${data.aws_iam_policy_document.assume_role.json}"
    )
    for type_ in ("aws_iam_policy", "aws_secretsmanager_secret_policy"):
        assert type_ not in aws.resource


@pytest.mark.parametrize("module", [AWS, VAULT], ids=["aws", "vault"])
def test_no_secret_value_in_state(module: Path) -> None:
    assert check_no_secret_values(Module.load(module)) == []
    assert "aws_secretsmanager_secret_version" not in Module.load(module).resource


def test_role_reads_exactly_one_secret(aws: Module) -> None:
    assert check_reads_exactly_one_secret(aws) == []


def test_role_only_gets_its_own_documents(aws: Module) -> None:
    assert check_role_policies(aws) == []


def test_assume_role_only_lambda(aws: Module) -> None:
    (st,) = statements(aws.policy_docs()["assume_role"])
    assert aws.resolve_list(st["actions"]) == ["sts:AssumeRole"]
    assert [(p["type"], aws.resolve_list(p["identifiers"])) for p in principals(st)] == [
        ("Service", ["lambda.amazonaws.com"])
    ]


def test_kms_decrypt_only_via_secrets_manager(aws: Module) -> None:
    assert check_decrypt_via_secrets_manager(aws) == []


def test_secret_encrypted_with_rotating_cmk(aws: Module) -> None:
    secret = aws.resource["aws_secretsmanager_secret"]["this"]
    assert secret["kms_key_id"] == "${aws_kms_key.secret[0].arn}"
    assert aws.resource["aws_kms_key"]["secret"]["enable_key_rotation"] is True
    assert aws.resource["aws_kms_key"]["logs"]["enable_key_rotation"] is True
    assert aws.resource["aws_cloudwatch_log_group"]["this"]["kms_key_id"] == "${aws_kms_key.logs.arn}"


def test_key_admins_cannot_use_the_keys(aws: Module) -> None:
    admin = set(aws.resolve_list("${local.key_admin_actions}"))
    usage = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:Sign", "kms:ReEncryptFrom", "kms:CreateGrant"}
    assert not admin & usage


def test_signing_key_grants_only_sign_and_get_public_key(aws: Module) -> None:
    assert check_signing_key(aws) == []
    spec = aws.variable["signing_key_spec"]
    assert spec["default"] == "RSA_2048"
    assert "RSA_2048" in str(spec["validation"]) and "ECC" not in str(spec["validation"])


def test_lambda_function(aws: Module) -> None:
    fn = aws.resource["aws_lambda_function"]["this"]
    assert aws.variable["lambda_handler"]["default"] == "handler.handler"
    assert aws.variable["lambda_runtime"]["default"] == "python3.12"
    env = _as_list(fn["environment"])[0]["variables"]
    assert set(env) == {
        "SF_CONSUMER_KEY",
        "SF_USERNAME",
        "SF_AUDIENCE",
        "SF_TOKEN_URL",
        "SFJWT_KEY",
        "SFJWT_PLUGINS",
        "SFJWT_TOKEN_CACHE",
    }
    assert env["SFJWT_PLUGINS"] == "aws"
    cache = aws.resolve(env["SFJWT_TOKEN_CACHE"])
    assert "dynamodb:${aws_dynamodb_table.token_cache[0].name}?kms_key=${aws_kms_key.cache_token[0].arn}" in cache
    assert ': "local"' in cache and aws.variable["enable_shared_cache"]["default"] is False
    sfjwt_key = aws.resolve(env["SFJWT_KEY"])
    assert "aws-sm:${aws_secretsmanager_secret.this[0].arn}" in sfjwt_key
    assert "aws-kms:${aws_kms_key.signing[0].arn}" in sfjwt_key
    assert fn["role"] == "${aws_iam_role.lambda.arn}"
    archive = aws.data["archive_file"]["package"]
    assert "examples/lambda" in archive["source_dir"]


def test_checkov_skips_have_reasons() -> None:
    for path in all_tf_files():
        for line in path.read_text().splitlines():
            m = re.search(r"#\s*checkov:skip=([A-Z0-9_]+)(.*)$", line)
            if m:
                reason = m.group(2).lstrip(":").strip()
                assert len(reason) >= 20, f"{path}: {m.group(1)} skipped without a reason"


@pytest.mark.parametrize("module", [AWS, VAULT], ids=["aws", "vault"])
def test_variables_and_outputs_documented(module: Path) -> None:
    mod = Module.load(module)
    for kind in ("variable", "output"):
        for name, body in getattr(mod, kind).items():
            assert body.get("description"), f"{kind} {name} has no description"


def test_vault_kv_policy_reads_exactly_one_path(vault: Module) -> None:
    assert check_kv_policy(vault) == []


@pytest.mark.parametrize(
    "variable",
    ["kv_mount", "kv_secret_path", "transit_mount", "transit_key_name", "cache_kv_prefix", "cache_transit_key_name"],
)
def test_vault_path_validation_rejects_globs(vault: Module, variable: str) -> None:
    condition = str(_as_list(vault.variable[variable]["validation"])[0]["condition"])
    pattern = re.search(r'regex\("((?:[^"\\]|\\.)*)"', condition).group(1).replace("\\\\", "\\")
    for bad in ("a/*", "a+", "*", "/a", "a/", "a b"):
        assert not re.search(pattern, bad), f"{variable} accepts {bad!r}"
    assert re.search(pattern, "salesforce-jwt")


def test_vault_transit_policy_sign_and_read_key_only(vault: Module) -> None:
    assert check_transit_policy(vault) == []


def test_vault_kv_v2_and_transit_key_not_exportable(vault: Module) -> None:
    assert check_vault_mounts_and_key(vault) == []
    assert vault.variable["transit_key_type"]["default"] == "rsa-2048"


def test_vault_auth_roles_bound_to_module_policies(vault: Module) -> None:
    assert vault.resource["vault_approle_auth_backend_role"]["this"]["token_policies"] == "${local.policies}"
    assert vault.resource["vault_jwt_auth_backend_role"]["this"]["token_policies"] == "${local.policies}"
    policies = str(vault.locals["policies"])
    assert "vault_policy.kv_read[0].name" in policies and "vault_policy.transit_sign[0].name" in policies
    assert "vault_policy.shared_cache[0].name" in policies
    assert set(vault.resource["vault_policy"]) == {"kv_read", "transit_sign", "shared_cache"}


def test_aws_shared_cache_least_privilege(aws: Module) -> None:
    assert check_shared_cache(aws) == []


def test_vault_shared_cache_policy_and_key(vault: Module) -> None:
    assert check_vault_shared_cache(vault) == []
    assert vault.variable["enable_shared_cache"]["default"] is False


# --------------------------------------------------------------------------- #
# Mutation tests: each promise's checker must catch a broken module.
# --------------------------------------------------------------------------- #

AWS_MUTATIONS = [
    (check_no_wildcards, "iam.tf", 'actions   = ["kms:GetPublicKey"]', 'actions   = ["*"]'),
    (check_no_wildcards, "iam.tf", 'actions   = ["kms:GetPublicKey"]', 'actions   = ["kms:*"]'),
    (check_no_wildcards, "iam.tf", "resources = [aws_kms_key.signing[0].arn]", 'resources = ["*"]'),
    (check_no_wildcards, "main.tf", '"kms:UpdateKeyDescription",', '"kms:UpdateKeyDescription", "*",'),
    (
        check_reads_exactly_one_secret,
        "iam.tf",
        "resources = [aws_secretsmanager_secret.this[0].arn]\n\n    condition",
        'resources = [aws_secretsmanager_secret.this[0].arn, "arn:aws:sm:r:1:secret:x"]\n\n    condition',
    ),
    (
        check_reads_exactly_one_secret,
        "iam.tf",
        'actions   = ["secretsmanager:GetSecretValue"]',
        'actions   = ["secretsmanager:GetSecretValue", "secretsmanager:ListSecrets"]',
    ),
    (
        check_reads_exactly_one_secret,
        "iam.tf",
        '"secretsmanager:DescribeSecret", "secretsmanager:PutSecretValue"',
        '"secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"',
    ),
    (
        check_role_policies,
        "iam.tf",
        "policy = data.aws_iam_policy_document.sign[0].json",
        "policy = data.aws_iam_policy_document.operator.json",
    ),
    (check_decrypt_via_secrets_manager, "iam.tf", 'variable = "kms:ViaService"', 'variable = "kms:CallerAccount"'),
    (check_decrypt_via_secrets_manager, "secret.tf", 'variable = "kms:ViaService"', 'variable = "aws:SourceIp"'),
    (check_signing_key, "iam.tf", 'actions   = ["kms:GetPublicKey"]', 'actions   = ["kms:GetPublicKey", "kms:Verify"]'),
    (check_signing_key, "signing.tf", 'actions   = ["kms:Sign"]', 'actions   = ["kms:Sign", "kms:CreateGrant"]'),
    (
        check_signing_key,
        "signing.tf",
        'key_usage                = "SIGN_VERIFY"',
        'key_usage                = "ENCRYPT_DECRYPT"',
    ),
    (
        check_no_secret_values,
        "secret.tf",
        "# The secret is created EMPTY",
        'resource "aws_secretsmanager_secret_version" "v" {\n  secret_id     = "x"\n  secret_string = "pem"\n}\n'
        "# The secret is created EMPTY",
    ),
]


AWS_MUTATIONS += [
    (
        check_shared_cache,
        "shared_cache.tf",
        'actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]',
        'actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Scan"]',
    ),
    (
        check_shared_cache,
        "shared_cache.tf",
        "resources = [aws_dynamodb_table.token_cache[0].arn]",
        'resources = [aws_dynamodb_table.token_cache[0].arn, "arn:aws:dynamodb:r:1:table/other"]',
    ),
    (
        check_shared_cache,
        "iam.tf",
        'actions   = ["kms:GetPublicKey"]',
        'actions   = ["kms:GetPublicKey", "dynamodb:GetItem"]',
    ),
    (
        check_shared_cache,
        "shared_cache.tf",
        '    condition {\n      test     = "Null"\n      variable = "kms:EncryptionContextKeys"\n      values   = ["false"]\n'
        '    }\n  }\n}\n\nresource "aws_iam_role_policy"',
        '  }\n}\n\nresource "aws_iam_role_policy"',
    ),
    (
        check_shared_cache,
        "shared_cache.tf",
        'values   = [local.cache_context_key]\n    }\n\n    condition {\n      test     = "Null"\n      variable = '
        '"kms:EncryptionContextKeys"\n      values   = ["false"]\n    }\n  }\n}\n\nresource "aws_kms_key_policy"',
        'values   = ["sfjwt:cache", "other"]\n    }\n\n    condition {\n      test     = "Null"\n      variable = '
        '"kms:EncryptionContextKeys"\n      values   = ["false"]\n    }\n  }\n}\n\nresource "aws_kms_key_policy"',
    ),
    (
        check_shared_cache,
        "shared_cache.tf",
        '    sid       = "EncryptDecryptCachedTokens"\n    effect    = "Allow"\n    actions   = ["kms:Decrypt", "kms:Encrypt"]',
        '    sid       = "EncryptDecryptCachedTokens"\n    effect    = "Allow"\n    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:ReEncryptFrom"]',
    ),
    (
        check_shared_cache,
        "shared_cache.tf",
        "values   = [local.dynamodb_service]",
        'values   = ["lambda.amazonaws.com"]',
    ),
    (check_shared_cache, "shared_cache.tf", "enabled        = true", "enabled        = false"),
    (check_shared_cache, "shared_cache.tf", "kms_key_arn = aws_kms_key.cache_table[0].arn", "kms_key_arn = null"),
]


@pytest.mark.parametrize("checker,filename,old,new", AWS_MUTATIONS)
def test_aws_checkers_catch_mutations(aws: Module, checker: Any, filename: str, old: str, new: str) -> None:
    assert checker(aws) == []
    assert checker(aws.mutated(filename, old, new)) != []


VAULT_MUTATIONS = [
    (
        check_kv_policy,
        "main.tf",
        'capabilities = ["read"]\n    description  = "Read the one',
        'capabilities = ["read", "list"]\n    description  = "Read the one',
    ),
    (
        check_kv_policy,
        "main.tf",
        'kv_data_path      = "${local.kv_mount}/data/${var.kv_secret_path}"',
        'kv_data_path      = "${local.kv_mount}/data/*"',
    ),
    (
        check_kv_policy,
        "main.tf",
        'kv_data_path      = "${local.kv_mount}/data/${var.kv_secret_path}"',
        'kv_data_path      = "${local.kv_mount}/metadata/${var.kv_secret_path}"',
    ),
    (check_transit_policy, "main.tf", 'capabilities = ["update"]', 'capabilities = ["update", "create"]'),
    (
        check_transit_policy,
        "main.tf",
        '"${local.transit_mount}/sign/${var.transit_key_name}"',
        '"${local.transit_mount}/sign/*"',
    ),
    (check_vault_mounts_and_key, "main.tf", "exportable             = false", "exportable             = true"),
    (check_vault_mounts_and_key, "main.tf", "allow_plaintext_backup = false", "allow_plaintext_backup = true"),
    (check_vault_mounts_and_key, "main.tf", 'options     = { version = "2" }', 'options     = { version = "1" }'),
    (
        check_no_secret_values,
        "main.tf",
        "# No vault_kv_secret_v2 on purpose",
        'resource "vault_kv_secret_v2" "k" {\n  mount     = "kv"\n  name      = "x"\n  data_json = "{}"\n}\n'
        "# No vault_kv_secret_v2 on purpose",
    ),
]


VAULT_MUTATIONS += [
    (
        check_vault_shared_cache,
        "shared_cache.tf",
        'capabilities = ["create", "read", "update"]',
        'capabilities = ["create", "read", "update", "delete", "list"]',
    ),
    (
        check_vault_shared_cache,
        "shared_cache.tf",
        'path         = "${local.kv_mount}/data/${var.cache_kv_prefix}/*"',
        'path         = "${local.kv_mount}/data/*"',
    ),
    (
        check_vault_shared_cache,
        "shared_cache.tf",
        'path         = "${local.transit_mount}/decrypt/${var.cache_transit_key_name}"',
        'path         = "${local.transit_mount}/decrypt/*"',
    ),
    (check_vault_shared_cache, "shared_cache.tf", "derived                = true", "derived                = false"),
    (check_vault_shared_cache, "shared_cache.tf", "exportable             = false", "exportable             = true"),
]


@pytest.mark.parametrize("checker,filename,old,new", VAULT_MUTATIONS)
def test_vault_checkers_catch_mutations(vault: Module, checker: Any, filename: str, old: str, new: str) -> None:
    assert checker(vault) == []
    assert checker(vault.mutated(filename, old, new)) != []


@pytest.mark.parametrize(
    "text",
    [
        'policy = jsonencode({ Statement = [{ Effect = "Allow", Action = "*", Resource = "arn:x" }] })',
        'policy = jsonencode({ Statement = [{ Action = ["s3:*"], Resource = ["arn:x"] }] })',
        'policy = jsonencode({ Statement = [{ Action = ["s3:GetObject"], Resource = "*" }] })',
        'policy = <<EOF\n{"Statement": [{"Action": ["kms:Decrypt"], "Resource": ["*"]}]}\nEOF',
        'policy = jsonencode({ Statement = [{ Principal = { AWS = "*" }, Action = "sts:AssumeRole" }] })',
    ],
)
def test_text_scan_catches_jsonencoded_wildcards(text: str) -> None:
    assert scan_text_for_wildcards(text) != []
