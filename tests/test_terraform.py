"""Static tests of the least-privilege promises made by terraform/ (python-hcl2, no provider needed).

terraform/check.sh also validates the AWS module and plans, applies and destroys its example against
moto, with the operator's and the Lambda role's policies enforced by moto's IAM (terraform/tests). What
moto cannot evaluate is held here: KMS key policies, conditions (`kms:ViaService`, encryption context,
signing algorithm, version stage), resource scoping, and the whole Vault module (no Vault provider is
available offline). Every checker returns a list of violations; the mutation tests at the bottom feed
each checker a deliberately broken copy of a module to prove it would catch the break.

The checks follow the modules' structure, not their file layout: every KMS key is a call of the
`kms-key` module, and its key policy is that module's administration statement plus the caller's
`usage_policy_json` document; mutations name a unique piece of text, wherever it lives.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2  # python-hcl2 (dev extra); deliberately not importorskip: a missing dep must fail loudly
import pytest

ROOT = Path(__file__).resolve().parent.parent / "terraform"
AWS = ROOT / "modules" / "aws"
VAULT = ROOT / "modules" / "vault"
KMS_KEY_SOURCE = "./modules/kms-key"

ROLE = "${aws_iam_role.lambda.arn}"
OPERATORS = "${var.operator_arns}"
SECRET = "${aws_secretsmanager_secret.this[0].arn}"
RS256 = "RSASSA_PKCS1_V1_5_SHA_256"


# --------------------------------------------------------------------------- #
# Loading: normalise python-hcl2 output across versions (v7+ keeps the quotes
# of string literals and labels and adds "__is_block__" markers).
# --------------------------------------------------------------------------- #


def _norm(value: Any) -> Any:
    if isinstance(value, dict):
        return {_norm(k): _norm(v) for k, v in value.items() if k not in ("__is_block__", "__comments__")}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@functools.lru_cache(maxsize=256)
def _parse(text: str) -> dict[str, Any]:
    """Parsed and normalised HCL (cached: a mutation re-parses only the file it changes; read-only)."""
    return dict(_norm(hcl2.loads(text)))


def _blocks(entries: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """[{type: {name: body}}, ...] -> {type: {name: body}}."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for entry in entries:
        for type_, named in entry.items():
            for name, body in named.items():
                out.setdefault(type_, {})[name] = body
    return out


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


class Module:
    """One Terraform module directory, with the local child modules it calls."""

    def __init__(self, directory: Path, files: dict[Path, str]) -> None:
        self.directory = directory
        self.files = files
        self.resource: dict[str, dict[str, dict[str, Any]]] = {}
        self.data: dict[str, dict[str, dict[str, Any]]] = {}
        self.locals: dict[str, Any] = {}
        self.variable: dict[str, dict[str, Any]] = {}
        self.output: dict[str, dict[str, Any]] = {}
        self.module: dict[str, dict[str, Any]] = {}
        for path, text in files.items():
            if path.parent != directory:
                continue
            parsed = _parse(text)
            for kind in ("resource", "data"):
                for type_, named in _blocks(parsed.get(kind, [])).items():
                    getattr(self, kind).setdefault(type_, {}).update(named)
            for kind in ("locals", "variable", "output", "module"):
                for block in parsed.get(kind, []):
                    getattr(self, "locals" if kind == "locals" else kind).update(block)
        self.children = {
            body["source"]: Module((directory / body["source"]).resolve(), files)
            for body in self.module.values()
            if str(body.get("source", "")).startswith("./")
        }

    @classmethod
    def load(cls, directory: Path) -> Module:
        directory = directory.resolve()
        return cls(directory, {p: p.read_text() for p in sorted(directory.rglob("*.tf"))})

    def mutated(self, where: str, old: str, new: str) -> Module:
        """A copy with the first `old` after `where` replaced by `new`.

        `where` is a piece of text found exactly once in this module and its children (a statement id,
        a resource header, ...), so a mutation names what it breaks, not the file it lives in.
        """
        holders = [(p, text.find(where)) for p, text in self.files.items() if where in text]
        assert len(holders) == 1 and self.files[holders[0][0]].count(where) == 1, f"{where!r} is not unique"
        path, start = holders[0]
        text = self.files[path]
        at = text.find(old, start)
        assert at >= 0, f"{old!r} not found after {where!r}"
        return Module(self.directory, {**self.files, path: text[:at] + new + text[at + len(old) :]})

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
        return [self.resolve(v) for v in _as_list(self.resolve(value))]

    def policy_docs(self) -> dict[str, dict[str, Any]]:
        return self.data.get("aws_iam_policy_document", {})

    def statements(self, doc_name: str) -> list[Statement]:
        """The statements of a policy document, with those of its source_policy_documents."""
        doc = self.policy_docs()[doc_name]
        out = [Statement.of(self, doc_name, st) for st in raw_statements(doc)]
        for source in _refs(str(doc.get("source_policy_documents", ""))):
            m = re.fullmatch(r"data\.aws_iam_policy_document\.([a-z_]+)(\[0\])?\.json", source)
            if m:
                out += self.statements(m.group(1))
        return out

    def all_statements(self) -> Iterator[Statement]:
        for name in self.policy_docs():
            yield from self.statements(name)

    def kms_keys(self) -> dict[str, Key]:
        """Every call of the kms-key module: its key's ARN reference and its whole key policy."""
        child = self.children.get(KMS_KEY_SOURCE)
        keys = {}
        for name, call in self.module.items():
            if call.get("source") != KMS_KEY_SOURCE or child is None:
                continue
            ref = f"${{module.{name}{'[0]' if 'count' in call else ''}.arn}}"
            usage = re.fullmatch(
                r"\$\{data\.aws_iam_policy_document\.([a-z_]+)(\[0\])?\.json\}", call["usage_policy_json"]
            )
            assert usage, f"module.{name}: usage_policy_json is not a policy document"
            admin = [
                st.bound(key_ref=ref, admins=_as_list(call["admin_arns"])) for st in child.statements("administration")
            ]
            keys[name] = Key(name, ref, call, admin, self.statements(usage.group(1)))
        return keys


def raw_statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Static and dynamic statements of an aws_iam_policy_document."""
    out = list(_as_list(doc.get("statement")))
    for dyn in _as_list(doc.get("dynamic")):
        for label, body in dyn.items():
            if label == "statement":
                out.extend(_as_list(body.get("content")))
    return out


_REF = re.compile(
    r"\b(?:data\.)?(?:aws_[a-z0-9_]+\.[a-z0-9_]+|module\.[a-z0-9_]+|var\.[a-z0-9_]+|local\.[a-z0-9_]+)(?:\[0\])?(?:\.[a-z0-9_]+)?"
)


def _refs(expr: str) -> list[str]:
    return _REF.findall(expr)


@dataclass(frozen=True)
class Statement:
    """One IAM statement, its references resolved one level (`${local.x}` -> value)."""

    doc: str
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    principals: tuple[tuple[str, str], ...]  # (type, identifier); `${a, b}` expressions split by reference
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...]  # (test, variable, values)
    raw_keys: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, mod: Module, doc: str, st: dict[str, Any]) -> Statement:
        principals = []
        for block in _as_list(st.get("principals")):
            for ident in mod.resolve_list(block.get("identifiers")):
                text = str(ident)
                if re.fullmatch(r"\$\{.*\}", text) and not re.fullmatch(r"\$\{[a-z0-9_.\[\]]+\}", text):
                    principals += [(block.get("type"), f"${{{ref}}}") for ref in _refs(text)]
                else:
                    principals.append((block.get("type"), text))
        return cls(
            doc=doc,
            sid=str(st.get("sid", "")),
            actions=tuple(str(a) for a in mod.resolve_list(st.get("actions"))),
            resources=tuple(str(r) for r in mod.resolve_list(st.get("resources"))),
            principals=tuple(principals),
            conditions=tuple(
                (str(c.get("test")), str(c.get("variable")), tuple(str(v) for v in mod.resolve_list(c.get("values"))))
                for c in _as_list(st.get("condition"))
            ),
            raw_keys=frozenset(st),
        )

    def bound(self, *, key_ref: str, admins: list[Any]) -> Statement:
        """A kms-key module statement as seen from the caller: this key, these administrators."""
        return Statement(
            doc=f"kms-key:{self.doc}",
            sid=self.sid,
            actions=self.actions,
            resources=tuple(key_ref if r == "${aws_kms_key.this.arn}" else r for r in self.resources),
            principals=tuple(
                (t, *[str(a) for a in admins]) if i == "${var.admin_arns}" else (t, i) for t, i in self.principals
            ),
            conditions=self.conditions,
            raw_keys=self.raw_keys,
        )

    def principal_ids(self) -> set[str]:
        return {ident for _type, ident in self.principals}

    def values(self, variable: str, test: str = "StringEquals") -> list[str] | None:
        """The values of the condition on `variable` with `test`, or None if there is none."""
        found = [v for t, var, v in self.conditions if var == variable and t == test]
        return list(found[0]) if found else None


@dataclass(frozen=True)
class Key:
    name: str
    ref: str  # what the parent module writes for the key's ARN
    call: dict[str, Any]
    admin: list[Statement]
    usage: list[Statement]

    @property
    def policy(self) -> list[Statement]:
        return self.admin + self.usage


@pytest.fixture(scope="module")
def aws() -> Module:
    return Module.load(AWS)


@pytest.fixture(scope="module")
def vault() -> Module:
    return Module.load(VAULT)


def all_tf_files() -> list[Path]:
    return sorted(ROOT.rglob("*.tf"))


def _doc_of(body: dict[str, Any], attr: str = "policy") -> str | None:
    m = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.([a-z_]+)(\[0\])?\.json\}", str(body.get(attr, "")))
    return m.group(1) if m else None


def role_statements(mod: Module) -> list[Statement]:
    """What the Lambda role's inline policies grant."""
    out = []
    for body in mod.resource.get("aws_iam_role_policy", {}).values():
        doc = _doc_of(body)
        if doc:
            out += mod.statements(doc)
    return out


def operator_statements(mod: Module) -> list[Statement]:
    """What the `operator_policy_json` output grants."""
    doc = _doc_of(mod.output["operator_policy_json"], "value")
    assert doc, "operator_policy_json is not a policy document"
    return mod.statements(doc)


def granted_by_keys(mod: Module, principal: str, key: str) -> set[str]:
    """The actions `principal` gets on `key` from the key's policy."""
    return {a for st in mod.kms_keys()[key].policy if principal in st.principal_ids() for a in st.actions}


# --------------------------------------------------------------------------- #
# Checkers (return violations)
# --------------------------------------------------------------------------- #

WILDCARD_ACTION = re.compile(r"^(\*|[a-z0-9-]+:\*)$")
KMS_USE = {
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:Sign",
    "kms:CreateGrant",
}


def check_no_wildcards(mod: Module) -> list[str]:
    bad = []
    modules = [mod, *mod.children.values()]
    for m in modules:
        for name, doc in m.policy_docs().items():
            for raw in raw_statements(doc):
                for key in ("not_actions", "not_resources", "not_principals"):
                    if key in raw:
                        bad.append(f"{name}: {key} used")
            for st in m.statements(name):
                if not st.actions:
                    bad.append(f"{name}: statement without actions")
                bad += [f"{name}: wildcard action {a!r}" for a in st.actions if WILDCARD_ACTION.match(a)]
                if name != "assume_role" and not st.resources:
                    bad.append(f"{name}: statement without resources")
                for res in st.resources:
                    # Every resource must name a resource of this module (or the child's own key).
                    if res == "*" or not re.search(r"\$\{(aws_|module\.)", res):
                        bad.append(f"{name}: resource {res!r} is not a module resource")
                bad += [f"{name}: wildcard principal" for ident in st.principal_ids() if ident == "*"]
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


SECRET_VALUE_TYPES = {
    # resources that put a secret value (or a credential) into the state
    "resource": {
        "aws_secretsmanager_secret_version",
        "vault_kv_secret_v2",
        "vault_kv_secret",
        "vault_generic_secret",
        "vault_approle_auth_backend_role_secret_id",
    },
    # data sources that read one into the state
    "data": {
        "aws_secretsmanager_secret_version",
        "aws_secretsmanager_secret_versions",
        "aws_kms_secrets",
        "vault_kv_secret_v2",
        "vault_kv_secret",
        "vault_kv_secrets_list_v2",
        "vault_generic_secret",
        "vault_approle_auth_backend_role_id",
    },
}


def check_no_secret_values(mod: Module) -> list[str]:
    bad = []
    for m in (mod, *mod.children.values()):
        for kind, types in SECRET_VALUE_TYPES.items():
            for type_ in sorted(types & set(getattr(m, kind))):
                bad += [f"{kind} {type_}.{name} puts a secret value in state" for name in getattr(m, kind)[type_]]
    return bad


def check_reads_exactly_one_secret(mod: Module) -> list[str]:
    """GetSecretValue: only the role's read_secret, the one secret, StringEquals AWSCURRENT/AWSPREVIOUS."""
    bad = []
    for st in mod.all_statements():
        sm = [a for a in st.actions if a.startswith("secretsmanager:")]
        if st.doc == "read_secret" and sm and sm != ["secretsmanager:GetSecretValue"]:
            bad.append(f"read_secret grants {sm}")
        if "secretsmanager:GetSecretValue" not in sm:
            continue
        if st.doc != "read_secret":
            bad.append(f"{st.doc} grants GetSecretValue")
        if st.resources != (SECRET,):
            bad.append(f"GetSecretValue on {st.resources}")
        stages = st.values("secretsmanager:VersionStage")  # single-valued key: StringEquals, not ForAnyValue
        if not stages or not set(stages) <= {"AWSCURRENT", "AWSPREVIOUS"}:
            bad.append(f"GetSecretValue not limited by StringEquals to AWSCURRENT/AWSPREVIOUS: {st.conditions}")
    if not any(
        st.doc == "read_secret" and "secretsmanager:GetSecretValue" in st.actions for st in mod.all_statements()
    ):
        bad.append("the role cannot read the secret")
    return bad


def check_role_policies(mod: Module) -> list[str]:
    """The Lambda role only gets the logs/read_secret/sign/shared_cache documents."""
    bad = []
    allowed = {"logs", "read_secret", "sign", "shared_cache"}
    for name, body in mod.resource.get("aws_iam_role_policy", {}).items():
        if _doc_of(body) not in allowed:
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


def check_keys_via_module(mod: Module) -> list[str]:
    """Every KMS key is a kms-key module call, whose policy is administration + the caller's usage only."""
    bad = [f"aws_kms_key.{n} outside the kms-key module" for n in mod.resource.get("aws_kms_key", {})]
    bad += [f"aws_kms_key_policy.{n} outside the kms-key module" for n in mod.resource.get("aws_kms_key_policy", {})]
    child = mod.children[KMS_KEY_SOURCE]
    policy = child.resource["aws_kms_key_policy"]["this"]
    if _doc_of(policy) != "key_policy":
        bad.append(f"the kms-key module's key policy is {policy['policy']}")
    sources = str(child.policy_docs()["key_policy"].get("source_policy_documents"))
    if _refs(sources) != ["data.aws_iam_policy_document.administration.json", "var.usage_policy_json"]:
        bad.append(f"the key policy is made of {sources}, not administration + usage")
    if raw_statements(child.policy_docs()["key_policy"]):
        bad.append("the key policy adds statements of its own")
    key = child.resource["aws_kms_key"]["this"]
    if "policy" in key or key.get("bypass_policy_lockout_safety_check"):
        bad.append("aws_kms_key.this sets its own policy or bypasses the lockout check")
    if "kms:PutKeyPolicy" not in child.resolve_list("${local.admin_actions}"):
        bad.append("administrators cannot update the key policy (the deployer would lock itself out)")
    return bad


def check_key_admins(mod: Module) -> list[str]:
    """Administrators: administrative actions only, on the key, and exactly the key_admin_arns."""
    bad = []
    for key in mod.kms_keys().values():
        for st in key.admin:
            if set(st.actions) & KMS_USE:
                bad.append(f"{key.name}: administrators may use the key: {sorted(set(st.actions) & KMS_USE)}")
            if st.resources != (key.ref,):
                bad.append(f"{key.name}: administration on {st.resources}")
            if st.principal_ids() != {"${local.key_admin_arns}"}:
                bad.append(f"{key.name}: administered by {st.principal_ids()}")
        if len(key.admin) != 1:
            bad.append(f"{key.name}: {len(key.admin)} administration statements")
        for st in key.usage:
            if st.sid == "KeyAdministration" or "${local.key_admin_arns}" in st.principal_ids():
                bad.append(f"{key.name}: usage statement {st.sid!r} for the administrators")
            if st.resources != (key.ref,):
                bad.append(f"{key.name}: usage statement {st.sid!r} on {st.resources}")
    return bad


def _via_secrets_manager_for_the_secret(st: Statement) -> bool:
    via = st.values("kms:ViaService")
    context = st.values("kms:EncryptionContext:SecretARN")
    return bool(via) and all(v.startswith("secretsmanager.") for v in via or []) and context == [SECRET]


def check_secret_key(mod: Module) -> list[str]:
    """The secret's key: used only through Secrets Manager and only for this secret
    (kms:ViaService + kms:EncryptionContext:SecretARN), in its key policy and in every IAM policy."""
    bad = []
    key = mod.kms_keys()["secret_key"]
    for st in [*key.usage, *(s for s in mod.all_statements() if key.ref in s.resources)]:
        if set(st.actions) & KMS_USE and not _via_secrets_manager_for_the_secret(st):
            bad.append(f"{st.doc}/{st.sid}: secret key use without ViaService=secretsmanager + SecretARN context")
    if granted_by_keys(mod, ROLE, "secret_key") != {"kms:Decrypt"}:
        bad.append(f"the role gets {granted_by_keys(mod, ROLE, 'secret_key')} on the secret key")
    if granted_by_keys(mod, OPERATORS, "secret_key") != {"kms:Decrypt", "kms:GenerateDataKey"}:
        bad.append(f"operators get {granted_by_keys(mod, OPERATORS, 'secret_key')} on the secret key")
    if mod.resource["aws_secretsmanager_secret"]["this"].get("kms_key_id") != key.ref:
        bad.append("the secret is not encrypted with its own key")
    return bad


def check_signing_key(mod: Module) -> list[str]:
    """The signing key: SIGN_VERIFY; the role and the operators may Sign with RS256 only
    (kms:SigningAlgorithm) and read the public key, nothing else, in the key policy and in IAM."""
    bad = []
    key = mod.kms_keys()["signing_key"]
    if key.call.get("key_spec") != "${var.signing_key_spec}":
        bad.append("signing key spec is not the signing_key_spec variable")
    child = mod.children[KMS_KEY_SOURCE].resource["aws_kms_key"]["this"]
    if "SIGN_VERIFY" not in str(child.get("key_usage")):
        bad.append("the kms-key module never makes a SIGN_VERIFY key")
    signing = [*key.usage, *(s for s in mod.all_statements() if key.ref in s.resources)]
    for st in signing:
        if "kms:Sign" in st.actions and st.values("kms:SigningAlgorithm") != [RS256]:
            bad.append(f"{st.doc}/{st.sid}: kms:Sign without kms:SigningAlgorithm = {RS256}")
        if set(st.actions) - {"kms:Sign", "kms:GetPublicKey"}:
            bad.append(
                f"{st.doc}/{st.sid}: {sorted(set(st.actions) - {'kms:Sign', 'kms:GetPublicKey'})} on the signing key"
            )
        if st in key.usage and st.principal_ids() != {ROLE, OPERATORS}:
            bad.append(f"{st.sid}: signing key usage for {st.principal_ids()}")
    for who in (ROLE, OPERATORS):
        if granted_by_keys(mod, who, "signing_key") != {"kms:Sign", "kms:GetPublicKey"}:
            bad.append(f"{who} gets {granted_by_keys(mod, who, 'signing_key')} from the signing key policy")
    for docs, who in ((role_statements(mod), "role"), (operator_statements(mod), "operators")):
        actions = {a for st in docs if key.ref in st.resources for a in st.actions}
        if actions != {"kms:Sign", "kms:GetPublicKey"}:
            bad.append(f"the {who}' IAM policy grants {sorted(actions)} on the signing key")
    return bad


def check_logs_key(mod: Module) -> list[str]:
    """The log group's key: only the CloudWatch Logs service, only for the one log group."""
    bad = []
    for st in mod.kms_keys()["logs_key"].usage:
        services = [i for t, i in st.principals if t == "Service"]
        if not services or st.principal_ids() - set(services) or any(not s.startswith("logs.") for s in services):
            bad.append(f"logs key used by {st.principals}")
        if st.values("kms:EncryptionContext:aws:logs:arn", "ArnEquals") != [mod.resolve("${local.log_group_arn}")]:
            bad.append("logs key use not limited to the log group (kms:EncryptionContext:aws:logs:arn)")
    return bad


def check_operator_policy(mod: Module) -> list[str]:
    """Operators: exactly the calls of `sfjwt keygen --store aws-sm:<arn>` (DescribeSecret, PutSecretValue;
    no read) or `sfjwt cert --key aws-kms:<arn>` (the role's own sign document), on this module's resources."""
    bad = []
    ops = operator_statements(mod)
    sm = {(a, r) for st in ops for a in st.actions if a.startswith("secretsmanager:") for r in st.resources}
    want = {("secretsmanager:DescribeSecret", SECRET), ("secretsmanager:PutSecretValue", SECRET)}
    if sm != want:
        bad.append(f"operators get {sorted(sm)} in Secrets Manager, expected {sorted(want)}")
    secret_key = mod.kms_keys()["secret_key"].ref
    kms = {a for st in ops if secret_key in st.resources for a in st.actions}
    if kms != {"kms:Decrypt", "kms:GenerateDataKey"}:
        bad.append(f"operators get {sorted(kms)} on the secret key")
    if not {st.sid for st in mod.statements("sign")} <= {st.sid for st in ops}:
        bad.append("in KMS mode operators do not get the sign document (sfjwt cert needs Sign + GetPublicKey)")
    condition = str(_as_list(mod.variable["operator_arns"]["validation"])[0]["condition"])
    pattern = re.search(r'regex\("((?:[^"\\]|\\.)*)"', condition)
    if pattern is None:
        return [*bad, "operator_arns is not validated by a regex"]
    regex = pattern.group(1).replace("\\\\", "\\")
    for arn in (
        "arn:aws:iam::123456789012:root",
        "*",
        "arn:aws:iam::123456789012:role/*",
        "arn:aws:iam::123456789012:group/ops",
    ):
        if re.search(regex, arn):
            bad.append(f"operator_arns accepts {arn!r}")
    if not re.search(regex, "arn:aws:iam::123456789012:role/platform-operators"):
        bad.append("operator_arns refuses a role ARN")
    return bad


CACHE_TABLE = "${aws_dynamodb_table.token_cache[0].arn}"
CACHE_ITEM_ACTIONS = {"dynamodb:GetItem", "dynamodb:UpdateItem"}


def _context_bound(st: Statement) -> bool:
    """Encryption context keys must be present (Null = false) and all be sfjwt:cache."""
    keys = st.values("kms:EncryptionContextKeys", "ForAllValues:StringEquals")
    present = st.values("kms:EncryptionContextKeys", "Null")
    return keys == ["sfjwt:cache"] and present in (["false"], ["False"])


def check_shared_cache(mod: Module) -> list[str]:
    """The role's DynamoDB actions only on the one table; kms:Encrypt/Decrypt on the token key only with
    the sfjwt:cache encryption context; TTL, PITR and encryption at rest on; and nothing the deploying
    principal cannot create (a table encrypted with a module CMK would need use grants for it)."""
    bad = []
    if mod.resolve("${local.cache_context_key}") != "sfjwt:cache":
        bad.append("the encryption context key is not sfjwt:cache")
    key = mod.kms_keys()["cache_key"]
    for st in mod.all_statements():
        dynamo = [a for a in st.actions if a.startswith("dynamodb:")]
        if dynamo and (st.doc != "shared_cache" or set(dynamo) != CACHE_ITEM_ACTIONS or st.resources != (CACHE_TABLE,)):
            bad.append(f"{st.doc}: {dynamo} on {st.resources}")
        if CACHE_TABLE in st.resources and set(st.actions) - CACHE_ITEM_ACTIONS:
            bad.append(f"{st.doc}: {st.actions} on the cache table")
        if key.ref in st.resources and (set(st.actions) != {"kms:Encrypt", "kms:Decrypt"} or not _context_bound(st)):
            bad.append(f"{st.doc}/{st.sid}: {st.actions} on the token key, context bound: {_context_bound(st)}")
        if st.doc == "shared_cache" and set(st.actions) & KMS_USE and st.resources != (key.ref,):
            bad.append(f"shared_cache: {st.actions} on {st.resources}")
    for st in key.usage:
        if st.principal_ids() != {ROLE} or set(st.actions) != {"kms:Encrypt", "kms:Decrypt"} or not _context_bound(st):
            bad.append(f"token key policy {st.sid}: {st.actions} for {st.principal_ids()}")
    table = mod.resource["aws_dynamodb_table"]["token_cache"]
    ttl = _as_list(table.get("ttl"))
    if not ttl or ttl[0].get("enabled") is not True or ttl[0].get("attribute_name") != "ttl_epoch":
        bad.append("table TTL is not enabled on ttl_epoch")
    if not any(p.get("enabled") is True for p in _as_list(table.get("point_in_time_recovery"))):
        bad.append("table has no point-in-time recovery")
    sse = _as_list(table.get("server_side_encryption"))
    if not sse or sse[0].get("enabled") is not True:
        bad.append("table is not encrypted at rest with a KMS key")
    elif sse[0].get("kms_key_arn"):
        # Issue 22: AWS requires the principal creating a table with a customer managed key to hold
        # kms:CreateGrant, Encrypt, Decrypt, GenerateDataKey* and DescribeKey on it.
        bad.append("the table uses a customer managed key whose policy does not let the deployer create it")
    return bad


# --- Vault ------------------------------------------------------------------


def _vault_policy_rules(mod: Module, policy: str) -> list[dict[str, Any]]:
    body = mod.resource["vault_policy"][policy]
    m = re.fullmatch(r"\$\{data\.vault_policy_document\.([a-z_]+)(\[0\])?\.hcl\}", body["policy"])
    if m:
        return _as_list(mod.data["vault_policy_document"][m.group(1)].get("rule"))
    # Inline HCL policy (heredoc): parse it as well.
    parsed = _norm(hcl2.loads(body["policy"]))
    return [{"path": path, **rule} for entry in parsed.get("path", []) for path, rule in entry.items()]


def _rules(mod: Module, policy: str) -> dict[str, list[str]]:
    return {
        mod.resolve(r["path"]): sorted(mod.resolve_list(r.get("capabilities")))
        for r in _vault_policy_rules(mod, policy)
    }


KV_DATA = "${local.kv_mount}/data/${var.kv_secret_path}"
KV_METADATA = "${local.kv_mount}/metadata/${var.kv_secret_path}"


def check_vault_policies(mod: Module) -> list[str]:
    """Each policy grants exactly the paths and capabilities of the calls the plugin makes."""
    want = {
        "token_self": {"auth/token/renew-self": ["update"], "auth/token/lookup-self": ["read"]},
        "kv_read": {KV_DATA: ["read"], KV_METADATA: ["read"]},
        "kv_write": {KV_DATA: ["create", "read", "update"], KV_METADATA: ["read"]},
        "transit_sign": {
            "${local.transit_mount}/sign/${var.transit_key_name}": ["update"],
            "${local.transit_mount}/keys/${var.transit_key_name}": ["read"],
        },
        "shared_cache": {
            "${local.kv_mount}/data/${var.cache_kv_prefix}/*": ["create", "read", "update"],
            "${local.transit_mount}/encrypt/${var.cache_transit_key_name}": ["update"],
            "${local.transit_mount}/decrypt/${var.cache_transit_key_name}": ["update"],
        },
    }
    bad = []
    if set(mod.resource["vault_policy"]) != set(want):
        bad.append(f"policies {sorted(mod.resource['vault_policy'])}, expected {sorted(want)}")
    for name, rules in want.items():
        got = _rules(mod, name) if name in mod.resource["vault_policy"] else {}
        if got != rules:
            bad.append(f"{name} is {got}, expected {rules}")
    policies = str(mod.locals["policies"])
    attached = set(re.findall(r"vault_policy\.([a-z_]+)", policies))
    if attached != {"token_self", "kv_read", "transit_sign", "shared_cache"}:
        bad.append(f"the roles get {sorted(attached)} (kv_write is for operators only)")
    return bad


def check_vault_mounts_and_keys(mod: Module) -> list[str]:
    bad = []
    kv = mod.resource["vault_mount"]["kv"]
    if kv.get("type") != "kv" or str(kv.get("options", {}).get("version")) != "2":
        bad.append("KV mount is not kv version 2")
    key = mod.resource["vault_transit_secret_backend_key"]["signing"]
    if key.get("exportable") is not False or key.get("allow_plaintext_backup") is not False:
        bad.append("transit signing key is exportable")
    if key.get("type") != "${var.transit_key_type}":
        bad.append("transit key type is not the transit_key_type variable")
    cache = mod.resource["vault_transit_secret_backend_key"]["cache"]
    if cache.get("type") != "aes256-gcm96" or cache.get("derived") is not True:
        bad.append("token cache Transit key is not a derived aes256-gcm96 key")
    if cache.get("exportable") is not False or cache.get("allow_plaintext_backup") is not False:
        bad.append("token cache Transit key is exportable")
    return bad


def _preconditions(body: dict[str, Any]) -> list[str]:
    return [
        str(p.get("condition"))
        for lifecycle in _as_list(body.get("lifecycle"))
        for p in _as_list(lifecycle.get("precondition"))
    ]


def _validations(mod: Module, variable: str) -> list[str]:
    return [str(v.get("condition")) for v in _as_list(mod.variable[variable].get("validation"))]


def check_vault_auth_roles(mod: Module) -> list[str]:
    """Both roles: the module's policies only, no `default` policy, bounded service tokens; AppRole needs
    a SecretID that expires; the JWT role binds an audience and a subject or claims."""
    bad = []
    approle = mod.resource["vault_approle_auth_backend_role"]["this"]
    jwt = mod.resource["vault_jwt_auth_backend_role"]["this"]
    for name, role in (("approle", approle), ("jwt", jwt)):
        if role.get("token_policies") != "${local.policies}":
            bad.append(f"{name}: token_policies {role.get('token_policies')}")
        if role.get("token_no_default_policy") is not True:
            bad.append(f"{name}: tokens carry the default policy")
        if role.get("token_type") != "service":
            bad.append(f"{name}: token_type {role.get('token_type')}")
        if (role.get("token_ttl"), role.get("token_max_ttl")) != ("${var.token_ttl}", "${var.token_max_ttl}"):
            bad.append(f"{name}: token TTLs are not the bounded variables")
        if not any("var.token_ttl <= var.token_max_ttl" in c for c in _preconditions(role)):
            bad.append(f"{name}: no precondition token_ttl <= token_max_ttl")
    if approle.get("bind_secret_id") is not True:
        bad.append("approle: bind_secret_id is not true (the RoleID alone would log in)")
    if approle.get("secret_id_num_uses") != "${var.approle_secret_id_num_uses}":
        bad.append("approle: secret_id_num_uses is not the variable")
    for variable, lowest, highest in (
        ("token_ttl", 1, 86400),
        ("token_max_ttl", 1, 86400),
        ("approle_secret_id_ttl", 60, 86400),
    ):
        conditions = " ".join(_validations(mod, variable))
        lower = (f"var.{variable} >= {lowest}", f"var.{variable} > {lowest - 1}")
        if f"var.{variable} <= {highest}" not in conditions or not any(bound in conditions for bound in lower):
            bad.append(f"{variable} is not validated to [{lowest}, {highest}]: {conditions}")
    jwt_conditions = _preconditions(jwt)
    if not any("length(var.jwt_bound_audiences) > 0" in c for c in jwt_conditions):
        bad.append("jwt: no precondition on the audience")
    if not any("var.jwt_bound_subject" in c and "length(var.jwt_bound_claims) > 0" in c for c in jwt_conditions):
        bad.append("jwt: no precondition that binds a subject or claims")
    if (jwt.get("bound_subject"), jwt.get("bound_claims")) != ("${var.jwt_bound_subject}", "${var.jwt_bound_claims}"):
        bad.append("jwt: bound_subject/bound_claims are not the variables the precondition checks")
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
        "modules/aws/modules/kms-key/main.tf",
        "modules/vault/README.md",
        "examples/aws/main.tf",
        "examples/vault/main.tf",
        "tests/test_apply.py",
    ):
        assert (ROOT / rel).is_file(), rel


def test_no_wildcard_in_iam_policy_documents(aws: Module) -> None:
    assert check_no_wildcards(aws) == []


@pytest.mark.parametrize("path", all_tf_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_wildcard_in_any_policy_text(path: Path) -> None:
    # Catches jsonencode()/heredoc policies the structured check cannot see.
    assert scan_text_for_wildcards(path.read_text()) == []


def test_policies_are_policy_documents(aws: Module) -> None:
    for mod in (aws, *aws.children.values()):
        for type_ in ("aws_iam_role_policy", "aws_kms_key_policy"):
            for name, body in mod.resource.get(type_, {}).items():
                assert _doc_of(body), f"{type_}.{name}"
        for type_ in ("aws_iam_policy", "aws_secretsmanager_secret_policy"):
            assert type_ not in mod.resource
    assert _doc_of(aws.resource["aws_iam_role"]["lambda"], "assume_role_policy") == "assume_role"


@pytest.mark.parametrize("module", [AWS, VAULT], ids=["aws", "vault"])
def test_no_secret_value_in_state(module: Path) -> None:
    assert check_no_secret_values(Module.load(module)) == []


def test_role_reads_exactly_one_secret(aws: Module) -> None:
    assert check_reads_exactly_one_secret(aws) == []


def test_role_only_gets_its_own_documents(aws: Module) -> None:
    assert check_role_policies(aws) == []


def test_assume_role_only_lambda(aws: Module) -> None:
    (st,) = aws.statements("assume_role")
    assert st.actions == ("sts:AssumeRole",)
    assert st.principals == (("Service", "lambda.amazonaws.com"),)


def test_every_key_comes_from_the_kms_key_module(aws: Module) -> None:
    assert check_keys_via_module(aws) == []
    assert set(aws.kms_keys()) == {"secret_key", "signing_key", "logs_key", "cache_key"}


def test_key_admins_administer_only(aws: Module) -> None:
    assert check_key_admins(aws) == []


def test_secret_key_only_through_secrets_manager_for_the_secret(aws: Module) -> None:
    assert check_secret_key(aws) == []


def test_signing_key_signs_rs256_and_gives_its_public_key_only(aws: Module) -> None:
    assert check_signing_key(aws) == []
    spec = aws.variable["signing_key_spec"]
    assert spec["default"] == "RSA_2048"
    assert "RSA_2048" in str(spec["validation"]) and "ECC" not in str(spec["validation"])


def test_logs_key_only_for_the_log_group(aws: Module) -> None:
    assert check_logs_key(aws) == []
    assert aws.resource["aws_cloudwatch_log_group"]["this"]["kms_key_id"] == "${module.logs_key.arn}"


def test_operators_get_exactly_what_keygen_and_cert_call(aws: Module) -> None:
    assert check_operator_policy(aws) == []


def test_aws_shared_cache_least_privilege(aws: Module) -> None:
    assert check_shared_cache(aws) == []


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
        "SFJWT_ROTATION_FALLBACK",
    }
    assert env["SFJWT_PLUGINS"] == "aws"
    assert env["SFJWT_ROTATION_FALLBACK"] == '${var.rotation_fallback ? "1" : "0"}'
    cache = aws.resolve(env["SFJWT_TOKEN_CACHE"])
    assert "dynamodb:${aws_dynamodb_table.token_cache[0].name}?kms_key=${module.cache_key[0].arn}" in cache
    assert ': "local"' in cache and aws.variable["enable_shared_cache"]["default"] is False
    sfjwt_key = aws.resolve(env["SFJWT_KEY"])
    assert "aws-sm:${aws_secretsmanager_secret.this[0].arn}" in sfjwt_key
    assert "aws-kms:${module.signing_key[0].arn}" in sfjwt_key
    assert fn["role"] == "${aws_iam_role.lambda.arn}"


def test_lambda_package_needs_no_unmirrored_provider() -> None:
    # The archive provider is not in the CI's mirror: the module takes a pre-built zip instead.
    for path in all_tf_files():
        text = path.read_text()
        assert "archive_file" not in text and "hashicorp/archive" not in text, path
    mod = Module.load(AWS)
    assert "default" not in mod.variable["lambda_package_file"]
    fn = mod.resource["aws_lambda_function"]["this"]
    assert fn["filename"] == "${var.lambda_package_file}"
    assert fn["source_code_hash"] == "${filebase64sha256(var.lambda_package_file)}"


def test_aws_provider_constraint_is_bounded() -> None:
    # data.aws_region.name is deprecated in provider 6, and the module is only checked against 5.x.
    for path in (AWS / "versions.tf", AWS / "modules" / "kms-key" / "versions.tf"):
        assert 'version = ">= 5.40.0, < 6.0.0"' in path.read_text(), path
    assert 'version = "~> 5.100.0"' in (ROOT / "examples" / "aws" / "main.tf").read_text()
    assert "aws_region.current.name" not in "".join(p.read_text() for p in AWS.rglob("*.tf"))


def test_checkov_skips_have_reasons() -> None:
    for path in all_tf_files():
        for line in path.read_text().splitlines():
            m = re.search(r"#\s*checkov:skip=([A-Z0-9_]+)(.*)$", line)
            if m:
                reason = m.group(2).lstrip(":").strip()
                assert len(reason) >= 20, f"{path}: {m.group(1)} skipped without a reason"


@pytest.mark.parametrize("module", [AWS, AWS / "modules" / "kms-key", VAULT], ids=["aws", "kms-key", "vault"])
def test_variables_and_outputs_documented(module: Path) -> None:
    mod = Module.load(module)
    for kind in ("variable", "output"):
        for name, body in getattr(mod, kind).items():
            assert body.get("description"), f"{kind} {name} has no description"


def test_examples_print_the_right_next_step(aws: Module, vault: Module) -> None:
    # Secrets Manager / KV: store a new key; KMS / Transit: the key exists, print its certificate.
    aws_command = aws.resolve(aws.output["operator_command"]["value"])
    assert (
        "sfjwt cert --key ${local.sfjwt_key}" in aws_command
        and "sfjwt keygen --store ${local.sfjwt_key}" in aws_command
    )
    assert aws_command.index("keygen") < aws_command.index("cert --key")  # keygen when use_secret
    vault_command = vault.resolve("${local.operator_command}")
    assert vault_command.startswith('${var.enable_transit ? "sfjwt cert --key')
    for example in ("aws", "vault"):
        outputs = (ROOT / "examples" / example / "outputs.tf").read_text()
        assert "module.sfjwt.operator_command" in outputs and "keygen_command" not in outputs


def test_vault_policies_exact(vault: Module) -> None:
    assert check_vault_policies(vault) == []


@pytest.mark.parametrize(
    "variable",
    ["kv_mount", "kv_secret_path", "transit_mount", "transit_key_name", "cache_kv_prefix", "cache_transit_key_name"],
)
def test_vault_path_validation_rejects_globs(vault: Module, variable: str) -> None:
    condition = _validations(vault, variable)[0]
    pattern = re.search(r'regex\("((?:[^"\\]|\\.)*)"', condition).group(1).replace("\\\\", "\\")
    for bad in ("a/*", "a+", "*", "/a", "a/", "a b"):
        assert not re.search(pattern, bad), f"{variable} accepts {bad!r}"
    assert re.search(pattern, "salesforce-jwt")


def test_vault_kv_v2_and_keys_not_exportable(vault: Module) -> None:
    assert check_vault_mounts_and_keys(vault) == []
    assert vault.variable["transit_key_type"]["default"] == "rsa-2048"


def test_vault_auth_roles(vault: Module) -> None:
    assert check_vault_auth_roles(vault) == []


def test_vault_token_cache_names_its_mount(vault: Module) -> None:
    value = vault.output["token_cache"]["value"]
    assert "&mount=${local.kv_mount}" in value


def test_vault_key_never_under_the_cache_prefix(vault: Module) -> None:
    conditions = _preconditions(vault.resource["vault_policy"]["shared_cache"])
    assert any('startswith("${var.kv_secret_path}/", "${var.cache_kv_prefix}/")' in c for c in conditions)


def test_vault_jwt_backend_needs_a_discovery_url(vault: Module) -> None:
    backend = vault.resource["vault_jwt_auth_backend"]["jwt"]
    assert "coalesce" not in str(backend["bound_issuer"])
    assert any("var.jwt_oidc_discovery_url != null" in c for c in _preconditions(backend))


# --------------------------------------------------------------------------- #
# Mutation tests: each promise's checker must catch a broken module.
# --------------------------------------------------------------------------- #

SM_CONTEXT = 'variable = "kms:EncryptionContext:SecretARN"'

AWS_MUTATIONS = [
    # wildcards, in the module and in the kms-key module
    (check_no_wildcards, 'data "aws_iam_policy_document" "sign"', '["kms:GetPublicKey"]', '["*"]'),
    (
        check_no_wildcards,
        '"kms:UpdateKeyDescription",',
        '"kms:UpdateKeyDescription",',
        '"kms:UpdateKeyDescription", "kms:*",',
    ),
    (check_no_wildcards, 'sid       = "KeyAdministration"', "[aws_kms_key.this.arn]", '["*"]'),
    (
        check_no_wildcards,
        'sid       = "WriteOwnLogGroup"',
        '["${aws_cloudwatch_log_group.this.arn}:log-stream:*"]',
        '["arn:aws:logs:*"]',
    ),
    # the one secret
    (
        check_reads_exactly_one_secret,
        'sid       = "ReadTheOneSecret"',
        "[0].arn]",
        '[0].arn, "arn:aws:secretsmanager:r:1:secret:x"]',
    ),
    (
        check_reads_exactly_one_secret,
        'sid       = "ReadTheOneSecret"',
        '"secretsmanager:GetSecretValue"',
        '"secretsmanager:GetSecretValue", "secretsmanager:ListSecrets"',
    ),
    (
        check_reads_exactly_one_secret,
        'sid       = "StoreKeyInTheOneSecret"',
        '"secretsmanager:DescribeSecret"',
        '"secretsmanager:GetSecretValue"',
    ),
    (check_reads_exactly_one_secret, 'sid       = "ReadTheOneSecret"', '"StringEquals"', '"ForAnyValue:StringEquals"'),
    (
        check_reads_exactly_one_secret,
        'sid       = "ReadTheOneSecret"',
        '"AWSPREVIOUS"]',
        '"AWSPREVIOUS", "AWSPENDING"]',
    ),
    (check_role_policies, 'resource "aws_iam_role_policy" "sign"', "sign[0].json", "operator.json"),
    # every key through the kms-key module, whose policy is administration + usage
    (
        check_keys_via_module,
        'resource "aws_iam_role" "lambda"',
        "resource",
        'resource "aws_kms_key" "extra" {}\n\nresource',
    ),
    (
        check_keys_via_module,
        'data "aws_iam_policy_document" "key_policy"',
        "var.usage_policy_json,",
        "var.usage_policy_json, data.aws_iam_policy_document.x.json,",
    ),
    (check_keys_via_module, '"kms:PutKeyPolicy",', '"kms:PutKeyPolicy",', ""),
    (
        check_key_admins,
        '"kms:UpdateKeyDescription",',
        '"kms:UpdateKeyDescription",',
        '"kms:UpdateKeyDescription", "kms:Decrypt",',
    ),
    (check_key_admins, 'module "logs_key"', "local.key_admin_arns", '["arn:aws:iam::1:user/x"]'),
    (
        check_key_admins,
        'sid       = "LambdaEncryptDecryptCachedTokens"',
        "module.cache_key[0].arn",
        "module.logs_key.arn",
    ),
    # the secret key: ViaService + EncryptionContext:SecretARN, in the key policy and in IAM
    (check_secret_key, 'sid       = "LambdaDecryptViaSecretsManager"', '"kms:ViaService"', '"aws:SourceIp"'),
    (
        check_secret_key,
        'sid       = "LambdaDecryptViaSecretsManager"',
        SM_CONTEXT,
        'variable = "kms:EncryptionContext:Other"',
    ),
    (
        check_secret_key,
        'sid       = "OperatorsStoreKeyViaSecretsManager"',
        "[local.secrets_manager_service]",
        '["lambda.amazonaws.com"]',
    ),
    (
        check_secret_key,
        'sid       = "OperatorsStoreKeyViaSecretsManager"',
        SM_CONTEXT,
        'variable = "kms:EncryptionContext:Other"',
    ),
    (
        check_secret_key,
        'sid       = "OperatorsStoreKeyViaSecretsManager"',
        '"kms:GenerateDataKey"]',
        '"kms:GenerateDataKey", "kms:Encrypt"]',
    ),
    (
        check_secret_key,
        'sid       = "DecryptViaSecretsManager"',
        SM_CONTEXT,
        'variable = "kms:EncryptionContext:Other"',
    ),
    (
        check_secret_key,
        'sid       = "EncryptViaSecretsManager"',
        SM_CONTEXT,
        'variable = "kms:EncryptionContext:Other"',
    ),
    (check_secret_key, 'resource "aws_secretsmanager_secret" "this"', "module.secret_key[0].arn", "null"),
    # the signing key: RS256 only (kms:SigningAlgorithm), Sign + GetPublicKey only, for the role and operators
    (
        check_signing_key,
        'data "aws_iam_policy_document" "signing_key_usage"',
        "[local.signing_algorithm]",
        '["RSASSA_PSS_SHA_256"]',
    ),
    (check_signing_key, 'data "aws_iam_policy_document" "sign"', '"kms:SigningAlgorithm"', '"kms:MessageType"'),
    (check_signing_key, 'signing_algorithm = "RSASSA_PKCS1_V1_5_SHA_256"', "SHA_256", "SHA_512"),
    (
        check_signing_key,
        'data "aws_iam_policy_document" "sign"',
        '["kms:GetPublicKey"]',
        '["kms:GetPublicKey", "kms:Verify"]',
    ),
    (
        check_signing_key,
        'data "aws_iam_policy_document" "signing_key_usage"',
        '["kms:Sign"]',
        '["kms:Sign", "kms:CreateGrant"]',
    ),
    (check_signing_key, 'data "aws_iam_policy_document" "signing_key_usage"', ", var.operator_arns", ""),
    (
        check_signing_key,
        'key_usage                = local.symmetric ? "ENCRYPT_DECRYPT" : "SIGN_VERIFY"',
        '"SIGN_VERIFY"',
        '"ENCRYPT_DECRYPT"',
    ),
    (
        check_signing_key,
        'data "aws_iam_policy_document" "operator"',
        "[data.aws_iam_policy_document.sign[0].json]",
        "[]",
    ),
    # the logs key
    (
        check_logs_key,
        'sid    = "CloudWatchLogsForThisLogGroup"',
        '"kms:EncryptionContext:aws:logs:arn"',
        '"kms:EncryptionContext:other"',
    ),
    (
        check_logs_key,
        'sid    = "CloudWatchLogsForThisLogGroup"',
        '"logs.${local.region}.amazonaws.com"',
        '"logs.${local.region}.amazonaws.com", "arn:aws:iam::1:root"',
    ),
    # operators
    (
        check_operator_policy,
        'sid       = "StoreKeyInTheOneSecret"',
        '"secretsmanager:PutSecretValue"]',
        '"secretsmanager:PutSecretValue", "secretsmanager:CreateSecret"]',
    ),
    (check_operator_policy, 'sid       = "StoreKeyInTheOneSecret"', '"secretsmanager:DescribeSecret", ', ""),
    (
        check_operator_policy,
        'data "aws_iam_policy_document" "operator"',
        "[data.aws_iam_policy_document.sign[0].json]",
        "[]",
    ),
    (check_operator_policy, 'variable "operator_arns"', ":(role|user)/", ":"),
    # the shared cache
    (
        check_shared_cache,
        'sid       = "TokenCacheItems"',
        '"dynamodb:UpdateItem"]',
        '"dynamodb:UpdateItem", "dynamodb:Scan"]',
    ),
    (check_shared_cache, 'sid       = "TokenCacheItems"', "[0].arn]", '[0].arn, "arn:aws:dynamodb:r:1:table/other"]'),
    (
        check_shared_cache,
        'sid       = "WriteOwnLogGroup"',
        '"logs:PutLogEvents"]',
        '"logs:PutLogEvents", "dynamodb:GetItem"]',
    ),
    (check_shared_cache, 'sid       = "EncryptDecryptCachedTokens"', 'test     = "Null"', 'test     = "StringLike"'),
    (
        check_shared_cache,
        'sid       = "LambdaEncryptDecryptCachedTokens"',
        "[local.cache_context_key]",
        '["sfjwt:cache", "other"]',
    ),
    (
        check_shared_cache,
        'sid       = "EncryptDecryptCachedTokens"',
        '"kms:Encrypt"]',
        '"kms:Encrypt", "kms:ReEncryptFrom"]',
    ),
    (
        check_shared_cache,
        'sid       = "LambdaEncryptDecryptCachedTokens"',
        "[aws_iam_role.lambda.arn]",
        "[aws_iam_role.lambda.arn, var.operator_arns]",
    ),
    (check_shared_cache, 'attribute_name = "ttl_epoch"', "true", "false"),
    # issue 22: a table encrypted with a module CMK needs the deployer in the key policy
    (
        check_shared_cache,
        "server_side_encryption {",
        "enabled = true",
        "enabled     = true\n    kms_key_arn = module.cache_key[0].arn",
    ),
    # secret values in state: resources and data sources
    (
        check_no_secret_values,
        "# The secret is created EMPTY",
        "#",
        'resource "aws_secretsmanager_secret_version" "v" {\n  secret_id     = "x"\n  secret_string = "pem"\n}\n#',
    ),
    (
        check_no_secret_values,
        "# The secret is created EMPTY",
        "#",
        'data "aws_secretsmanager_secret_version" "v" {\n  secret_id = "x"\n}\n#',
    ),
]


@pytest.mark.parametrize("checker,where,old,new", AWS_MUTATIONS, ids=lambda v: v.__name__ if callable(v) else "")
def test_aws_checkers_catch_mutations(aws: Module, checker: Any, where: str, old: str, new: str) -> None:
    assert checker(aws) == []
    assert checker(aws.mutated(where, old, new)) != []


VAULT_MUTATIONS = [
    (check_vault_policies, 'data "vault_policy_document" "kv_read"', '["read"]', '["read", "list"]'),
    (check_vault_policies, 'kv_data_path      = "', "${var.kv_secret_path}", "*"),
    (
        check_vault_policies,
        'data "vault_policy_document" "kv_read"',
        "local.kv_metadata_path",
        '"${local.kv_mount}/metadata/*"',
    ),
    (check_vault_policies, 'data "vault_policy_document" "kv_write"', '"update"]', '"update", "delete"]'),
    (
        check_vault_policies,
        "var.enable_kv ? [vault_policy.kv_read[0].name]",
        "kv_read[0].name",
        "kv_read[0].name, vault_policy.kv_write[0].name",
    ),
    (check_vault_policies, '"auth/token/renew-self"', "renew-self", "*"),
    (check_vault_policies, "path         = local.transit_sign_path", '["update"]', '["update", "create"]'),
    (check_vault_policies, 'transit_sign_path = "', "${var.transit_key_name}", "*"),
    (
        check_vault_policies,
        '"${local.kv_mount}/data/${var.cache_kv_prefix}/*"',
        '"update"]',
        '"update", "delete", "list"]',
    ),
    (check_vault_policies, "/data/${var.cache_kv_prefix}/*", "${var.cache_kv_prefix}/", ""),
    (check_vault_policies, "/decrypt/${var.cache_transit_key_name}", "${var.cache_transit_key_name}", "*"),
    (
        check_vault_mounts_and_keys,
        'resource "vault_transit_secret_backend_key" "signing"',
        "exportable             = false",
        "exportable             = true",
    ),
    (check_vault_mounts_and_keys, 'options     = { version = "2" }', '"2"', '"1"'),
    (check_vault_mounts_and_keys, "derived                = true", "true", "false"),
    (check_vault_auth_roles, "bind_secret_id          = true", "true", "false"),
    (
        check_vault_auth_roles,
        'resource "vault_approle_auth_backend_role" "this"',
        "token_no_default_policy = true",
        "token_no_default_policy = false",
    ),
    (check_vault_auth_roles, 'resource "vault_jwt_auth_backend_role" "this"', "token_no_default_policy = true\n", ""),
    (
        check_vault_auth_roles,
        'resource "vault_jwt_auth_backend_role" "this"',
        'token_type              = "service"',
        'token_type              = "batch"',
    ),
    (
        check_vault_auth_roles,
        "condition     = var.token_max_ttl > 0 && var.token_max_ttl <= 86400",
        " && var.token_max_ttl <= 86400",
        "",
    ),
    (check_vault_auth_roles, "condition     = var.approle_secret_id_ttl >= 60", ">= 60", ">= 0"),
    (
        check_vault_auth_roles,
        "secret_id_num_uses      = var.approle_secret_id_num_uses",
        "var.approle_secret_id_num_uses",
        "0",
    ),
    (
        check_vault_auth_roles,
        'resource "vault_approle_auth_backend_role" "this"',
        "var.token_ttl <= var.token_max_ttl",
        "true",
    ),
    (check_vault_auth_roles, "|| length(var.jwt_bound_claims) > 0", "|| length(var.jwt_bound_claims) > 0", ""),
    (check_vault_auth_roles, "length(var.jwt_bound_audiences) > 0", "length(var.jwt_bound_audiences) > 0", "true"),
    (check_vault_auth_roles, "bound_claims            = var.jwt_bound_claims", "var.jwt_bound_claims", "{}"),
    (
        check_no_secret_values,
        "# No vault_kv_secret_v2 on purpose",
        "#",
        'resource "vault_kv_secret_v2" "k" {\n  mount     = "kv"\n  name      = "x"\n  data_json = "{}"\n}\n#',
    ),
    (
        check_no_secret_values,
        "# No vault_kv_secret_v2 on purpose",
        "#",
        'data "vault_kv_secret_v2" "k" {\n  mount = "kv"\n  name  = "x"\n}\n#',
    ),
]


@pytest.mark.parametrize("checker,where,old,new", VAULT_MUTATIONS, ids=lambda v: v.__name__ if callable(v) else "")
def test_vault_checkers_catch_mutations(vault: Module, checker: Any, where: str, old: str, new: str) -> None:
    assert checker(vault) == []
    assert checker(vault.mutated(where, old, new)) != []


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
