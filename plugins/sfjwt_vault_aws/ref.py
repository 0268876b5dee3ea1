"""Parsing `aws-sm:` and `aws-kms:` references, and deciding which region they live in.

Region order: the `region` option, else the region inside an ARN, else AWS_REGION, else boto3's own
chain (AWS_DEFAULT_REGION, the profile's config). No region at all, or one botocore would refuse
(`?region=eu_west_1`), is a configuration error here, not a confusing botocore one later.
"""

from __future__ import annotations

import os
import re
import threading
from typing import NamedTuple
from urllib.parse import urlencode

from sfjwt_vault.plugin_api import ConfigurationError, KeyRef

SM_SCHEME = "aws-sm"
KMS_SCHEME = "aws-kms"
CURRENT = "AWSCURRENT"
PREVIOUS = "AWSPREVIOUS"
DEFAULT_FIELD = "private_key"

# botocore's own rule for a region name (a DNS label, not all digits); it raises InvalidRegionError otherwise
_REGION_NAME = re.compile(r"^(?![0-9]+$)(?!-)[a-zA-Z0-9-]{1,63}(?<!-)$")
_ARN = re.compile(r"^arn:aws[a-z-]*:(?P<service>secretsmanager|kms):(?P<region>[a-z0-9-]+):\d{12}:.+$")
# passphrase_env is the core's (an encrypted PEM in the secret).
_SM_OPTIONS = {"version_stage", "version_id", "region", "passphrase_env"}
_KMS_OPTIONS = {"region"}  # the key never leaves KMS: there is no PEM to decrypt


class SecretRef(NamedTuple):
    """Where one secret version is: name or ARN, the version selector and the JSON field (if any)."""

    secret_id: str
    region: str | None
    version_stage: str | None
    version_id: str | None
    field: str | None
    ref: KeyRef

    @property
    def request(self) -> dict[str, str]:
        """GetSecretValue arguments. AWSCURRENT is explicit: some servers answer a stale version without it."""
        args = {"SecretId": self.secret_id}
        if self.version_id:
            args["VersionId"] = self.version_id
        if self.version_stage or not self.version_id:
            args["VersionStage"] = self.version_stage or CURRENT
        return args


class KmsKeyRef(NamedTuple):
    key_id: str
    region: str | None
    ref: KeyRef


def parse_secret_ref(ref: KeyRef) -> SecretRef:
    ref.check_options(_SM_OPTIONS, "aws-sm:prod/sf-jwt?region=eu-west-1&version_stage=AWSCURRENT#private_key")
    region = ref.options.get("region") or _arn_region(ref.path, "secretsmanager")
    return SecretRef(
        secret_id=ref.path,
        region=region or None,
        version_stage=ref.options.get("version_stage") or None,
        version_id=ref.options.get("version_id") or None,
        field=ref.fragment,
        ref=ref,
    )


def parse_kms_ref(ref: KeyRef) -> KmsKeyRef:
    ref.check_options(_KMS_OPTIONS, "aws-kms:alias/salesforce-jwt?region=eu-west-1")
    region = ref.options.get("region") or _arn_region(ref.path, "kms")
    if ref.fragment:
        raise ConfigurationError(
            f"the KMS key reference {str(ref)!r} has a #field, which KMS keys do not have",
            hint="use aws-kms:<key id | alias/name | key ARN>[?region=...]",
        )
    return KmsKeyRef(key_id=ref.path, region=region or None, ref=ref)


def previous_version(ref: KeyRef) -> KeyRef | None:
    """The same secret at AWSPREVIOUS, unless the reference pins a version already."""
    if ref.scheme != SM_SCHEME or ref.options.get("version_id") or ref.options.get("version_stage") == PREVIOUS:
        return None
    options = dict(ref.options)
    options["version_stage"] = PREVIOUS
    raw = f"{SM_SCHEME}:{ref.path}?{urlencode(options)}" + (f"#{ref.fragment}" if ref.fragment else "")
    return KeyRef(scheme=SM_SCHEME, path=ref.path, options=options, fragment=ref.fragment, raw=raw)


def _arn_region(path: str, service: str) -> str | None:
    match = _ARN.match(path)
    if match is None:
        return None
    if match.group("service") != service:
        raise ConfigurationError(
            f"the ARN {path!r} is a {match.group('service')} ARN, not a {service} one",
            hint="aws-sm: takes a Secrets Manager secret, aws-kms: a KMS key",
        )
    return match.group("region")


_REGION_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE")
_default_regions: dict[tuple[str | None, ...], str | None] = {}
_default_lock = threading.Lock()


def resolve_region(region: str | None, ref: KeyRef) -> str:
    """The explicit region, else boto3's default chain (cached per environment), else a clear error."""
    if region:
        return _valid_region(region, "the reference's region", ref)
    if os.environ.get("AWS_REGION"):  # Lambda and the other AWS SDKs use it; botocore reads only the next
        return _valid_region(os.environ["AWS_REGION"], "AWS_REGION", ref)
    env = tuple(os.environ.get(name) for name in _REGION_ENV)
    with _default_lock:
        if env not in _default_regions:
            import botocore.session  # lazily: only aws-* references reach this

            from .errors import configured_profile

            with configured_profile():
                _default_regions[env] = botocore.session.get_session().get_config_variable("region")
        found = _default_regions[env]
    if not found:
        raise ConfigurationError(
            f"no AWS region for {str(ref)!r}",
            hint="add ?region=eu-west-1 to the reference, use a full ARN, or set AWS_REGION (Lambda sets it for you)",
        )
    return _valid_region(str(found), "AWS_DEFAULT_REGION or the AWS config profile's region", ref)


def _valid_region(region: str, source: str, ref: KeyRef) -> str:
    if not _REGION_NAME.match(region):
        raise ConfigurationError(
            f"{source} {region!r} for {str(ref)!r} is not an AWS region name",
            hint="a region looks like eu-west-1 or us-gov-west-1: fix ?region=, AWS_REGION or AWS_DEFAULT_REGION",
        )
    return region
