"""Secrets Manager: read a PEM (plain, in a JSON field, or binary) into a SecretBuffer, and store one.

Reading: a botocore `before-parse` hook takes the secret straight from the raw HTTP body into a
SecretBuffer and hands botocore a body with the secret value blanked. So botocore never builds the
`SecretString` str (or `SecretBinary` bytes), and its DEBUG log of the body shows no key. If the hook
did not see the body (an unexpected botocore change), the parsed value is used instead: correct, with
one more immutable copy. A JSON secret's field is then decoded in place inside the same buffer.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from sfjwt_vault.plugin_api import (
    MAX_KEY_BYTES,
    ConfigurationError,
    KeyBackendError,
    KeyFormatError,
    KeyRef,
    SecretBuffer,
    wipe,
    wipe_received_bytes,
)

from . import jsonscan
from .clients import forget_client, get_client
from .errors import AwsNotFoundError, Operation, call
from .ref import CURRENT, DEFAULT_FIELD, PREVIOUS, SecretRef, parse_secret_ref, resolve_region

SERVICE = "secretsmanager"
_EVENT = "before-parse.secrets-manager.GetSecretValue"
_PEM = b"-----BEGIN"
_MAX_BODY = 4 * MAX_KEY_BYTES  # JSON escaping and base64 grow the key; a secret is at most 64 KiB anyway
_local = threading.local()


class _Capture:
    """What the body hook took from the response (a plain slotted class: cheaper to define than a dataclass)."""

    __slots__ = ("binary", "buffer")

    def __init__(self) -> None:
        self.buffer: SecretBuffer | None = None
        self.binary = False


def fetch_key(ref: KeyRef) -> SecretBuffer:
    sref = parse_secret_ref(ref)
    region = resolve_region(sref.region, ref)
    client = get_client(SERVICE, region, _install_capture)
    buffer, binary = _get_secret(client, sref, region)
    try:
        _select_pem(buffer, sref, binary)
    except BaseException:
        buffer.wipe()
        raise
    return buffer


def _get_secret(client: Any, sref: SecretRef, region: str) -> tuple[SecretBuffer, bool]:
    """GetSecretValue into a SecretBuffer: via the body hook, else from the parsed response."""
    operation = Operation(
        ref=str(sref.ref),
        action="secretsmanager:GetSecretValue",
        resource=sref.secret_id,
        region=region,
        extra_permissions="kms:Decrypt on the secret's KMS key if it is a customer managed key",
    )
    capture = _Capture()
    _local.capture = capture
    try:
        response = call(
            operation,
            lambda: client.get_secret_value(**sref.request),
            on_no_credentials=lambda: forget_client(SERVICE, region),
        )
    except BaseException:
        if capture.buffer is not None:
            capture.buffer.wipe()
        raise
    finally:
        _local.capture = None
    if capture.buffer is not None:
        return capture.buffer, capture.binary
    return _from_parsed(response, sref)


def _install_capture(client: Any) -> None:
    client.meta.events.register(_EVENT, _capture_body, unique_id="sfjwt-vault-capture")


def _capture_body(response_dict: dict[str, Any], **_: Any) -> None:
    """before-parse hook: move SecretString/SecretBinary from the body into a SecretBuffer."""
    capture: _Capture | None = getattr(_local, "capture", None)
    body = response_dict.get("body")
    if capture is None or response_dict.get("status_code") != 200 or not isinstance(body, bytes):
        return
    if len(body) > _MAX_BODY:
        return  # let botocore parse; _from_parsed refuses the oversized value with a clear error
    try:
        found = {name: (start, end) for name, start, end in jsonscan.members(body, 0, len(body))}
    except jsonscan.JsonScanError:
        return
    for name, binary in (("SecretString", False), ("SecretBinary", True)):
        if name not in found or not jsonscan.is_string_value(body, found[name][0]):
            continue
        start, end = found[name]
        buffer = SecretBuffer(end - start)
        view = buffer.writable()
        try:
            if binary:
                length = jsonscan.decode_base64(body, start, end, view)
            else:
                length = jsonscan.decode_string(body, start, end, view)
        except jsonscan.JsonScanError:
            view.release()
            buffer.wipe()
            return
        view.release()
        buffer.set_length(length)
        capture.buffer, capture.binary = buffer, binary
        # botocore parses what is left: the metadata, with an empty secret value. The raw body we
        # received is then zeroed: it is the one copy of the key botocore would otherwise keep.
        response_dict["body"] = body[:start] + body[end:]
        wipe_received_bytes(body)
        return


def _from_parsed(response: dict[str, Any], sref: SecretRef) -> tuple[SecretBuffer, bool]:
    value = response.get("SecretString")
    binary = value is None
    if binary:
        value = response.get("SecretBinary")
    if value is None:
        raise KeyBackendError(f"the secret {sref.secret_id!r} has no value in this version", hint=_version_hint(sref))
    if len(value) > MAX_KEY_BYTES:
        raise KeyBackendError(
            f"the secret {sref.secret_id!r} is larger than any PEM key ({MAX_KEY_BYTES} bytes max)",
            hint="the secret must hold the PEM private key, or JSON with it in one field",
        )
    if isinstance(value, str):
        buffer = SecretBuffer(len(value) * 4)
        view = buffer.writable()
        length = 0
        for ch in value:  # encode char by char: no whole-key `bytes` copy on top of botocore's str
            encoded = ch.encode("utf-8")
            view[length : length + len(encoded)] = encoded
            length += len(encoded)
        view.release()
        buffer.set_length(length)
        return buffer, False
    return SecretBuffer.from_buffer(value), True


def _select_pem(buffer: SecretBuffer, sref: SecretRef, binary: bool) -> None:
    """Leave only the PEM in the buffer: as is, or decoded in place from a JSON field."""
    if len(buffer) > MAX_KEY_BYTES:
        raise KeyBackendError(
            f"the secret {sref.secret_id!r} is {len(buffer)} bytes, larger than any PEM key",
            hint="the secret must hold the PEM private key, or JSON with it in one field",
        )
    view = buffer.writable()
    try:
        first = jsonscan.skip_ws(view, 0, len(buffer))
        is_json = first < len(buffer) and view[first] == 0x7B
        if not is_json:
            if sref.field:
                raise KeyBackendError(
                    f"the key reference asks for field {sref.field!r}, but the secret {sref.secret_id!r} "
                    "is not a JSON object",
                    hint="remove the #field from the reference when the secret holds the PEM itself",
                )
            if bytes(view[first : first + len(_PEM)]) != _PEM:
                raise KeyFormatError(
                    f"the secret {sref.secret_id!r} ({'SecretBinary' if binary else 'SecretString'}) "
                    "does not hold a PEM private key",
                    hint="store the whole '-----BEGIN PRIVATE KEY-----' block, or JSON with it in a field "
                    "named in the reference (aws-sm:NAME#field)",
                )
            return
        field = sref.field or DEFAULT_FIELD
        names: list[str] = []
        span: tuple[int, int] | None = None
        try:
            for name, start, end in jsonscan.members(view, first, len(buffer)):
                names.append(name)
                if name == field and span is None:
                    span = (start, end) if jsonscan.is_string_value(view, start) else (-1, -1)
        except jsonscan.JsonScanError:
            raise KeyFormatError(
                f"the secret {sref.secret_id!r} starts like JSON but is not a valid JSON object",
                hint="store the PEM itself, or valid JSON with the PEM in one string field",
            ) from None
        if span is None:
            raise KeyBackendError(
                f"the secret {sref.secret_id!r} has no field {field!r}; its fields are: "
                f"{', '.join(repr(n) for n in names) or '(none)'}",
                hint="name the field in the reference: aws-sm:NAME#field"
                + ("" if sref.field else f" (the default field is {DEFAULT_FIELD!r})"),
            )
        if span[0] < 0:
            raise KeyFormatError(
                f"the field {field!r} of the secret {sref.secret_id!r} is not a string",
                hint="the field must hold the PEM as a JSON string (newlines as \\n)",
            )
        old_length = len(buffer)
        try:
            length = jsonscan.decode_string(view, span[0], span[1], view, 0)
        except jsonscan.JsonScanError:
            raise KeyFormatError(
                f"the field {field!r} of the secret {sref.secret_id!r} is not a valid JSON string"
            ) from None
        view[length:old_length] = bytes(old_length - length)  # wipe the rest of the JSON
        buffer.set_length(length)
        pem_start = jsonscan.skip_ws(view, 0, length)
        if bytes(view[pem_start : pem_start + len(_PEM)]) != _PEM:
            raise KeyFormatError(
                f"the field {field!r} of the secret {sref.secret_id!r} does not hold a PEM private key",
                hint="put the whole '-----BEGIN PRIVATE KEY-----' block in that field",
            )
    finally:
        view.release()


def _version_hint(sref: SecretRef) -> str:
    return "write a value to the secret (`sfjwt keygen --store`), or check version_stage/version_id"


# --- storing ---------------------------------------------------------------------------------------


def store_key(ref: KeyRef, pem: SecretBuffer, overwrite: bool) -> str:
    """Write `pem` as the new AWSCURRENT version of the secret; a secret that does not exist is created.

    The calls, in order: DescribeSecret; then PutSecretValue on an existing secret (one with no version
    yet, as Terraform creates it, exists too) or CreateSecret for a new name (never for an ARN, which
    can only name an existing secret). GetSecretValue only when a `#field` is written, without
    overwrite, into a secret that has a current value: to refuse dropping its other fields. So an
    operator allowed DescribeSecret and PutSecretValue (terraform/modules/aws) stores without reading.
    """
    sref = parse_secret_ref(ref)
    if sref.version_id or (sref.version_stage and sref.version_stage != CURRENT):
        raise ConfigurationError(
            f"cannot store a key at {str(ref)!r}: it pins a version",
            hint="store to the secret itself (aws-sm:NAME[#field]); the new version becomes AWSCURRENT and "
            "the old one AWSPREVIOUS",
        )
    region = resolve_region(sref.region, ref)
    client = get_client(SERVICE, region, _install_capture)
    described = _describe(client, sref, region)
    if described is None:
        return _create_secret(client, sref, region, pem)
    has_current = any(CURRENT in stages for stages in (described.get("VersionIdsToStages") or {}).values())
    if sref.field and has_current and not overwrite:
        _refuse_to_drop_fields(client, sref, region)
    # The str cannot be wiped; the dict is cleared as soon as the call returns so we hold no reference.
    params = {"SecretId": sref.secret_id, "SecretString": _secret_string(pem, sref.field)}
    try:
        operation = Operation(str(ref), "secretsmanager:PutSecretValue", sref.secret_id, region)
        result = call(operation, lambda: client.put_secret_value(**params))
    finally:
        params.clear()
    name = result.get("Name") or sref.secret_id
    if not has_current:
        return f"first version {result.get('VersionId')} of {name}, staged {CURRENT}"
    return f"new version {result.get('VersionId')} of {name}, staged {CURRENT}; previous version staged {PREVIOUS}"


def _describe(client: Any, sref: SecretRef, region: str) -> dict[str, Any] | None:
    """The secret's metadata (no value), or None if there is no such secret."""
    operation = Operation(str(sref.ref), "secretsmanager:DescribeSecret", sref.secret_id, region)
    try:
        result: dict[str, Any] = call(operation, lambda: client.describe_secret(SecretId=sref.secret_id))
    except AwsNotFoundError:
        return None
    return result


def _create_secret(client: Any, sref: SecretRef, region: str, pem: SecretBuffer) -> str:
    if sref.secret_id.startswith("arn:"):
        raise AwsNotFoundError(
            f"the secret {sref.secret_id!r} does not exist in {region}, and an ARN cannot name a new secret",
            hint="check the ARN (account, region, the random suffix), or store to a name (aws-sm:NAME) to create "
            "a new secret there",
        )
    params = {
        "Name": sref.secret_id,
        "SecretString": _secret_string(pem, sref.field),
        "Description": "Salesforce JWT Bearer private key (sfjwt-vault)",
    }
    try:
        operation = Operation(str(sref.ref), "secretsmanager:CreateSecret", sref.secret_id, region)
        result = call(operation, lambda: client.create_secret(**params))
    finally:
        params.clear()
    return f"created secret {result.get('ARN') or sref.secret_id}, version {result.get('VersionId')} staged {CURRENT}"


def _refuse_to_drop_fields(client: Any, sref: SecretRef, region: str) -> None:
    """A new version holds only the key: refuse if the current JSON value has other fields."""
    exists = _current_fields(client, sref, region)
    others = [name for name in exists[1] if name != sref.field] if exists else []
    if others:
        raise KeyBackendError(
            f"the secret {sref.secret_id!r} holds other fields ({', '.join(repr(n) for n in others)}); "
            "a new version with only the key would drop them",
            hint="use a secret of its own for the key, or pass --overwrite to replace the whole value",
        )


def _current_fields(client: Any, sref: SecretRef, region: str) -> tuple[bool, list[str]] | None:
    """None if the secret does not exist; else (is JSON, its field names). Values are wiped unread."""
    current = SecretRef(sref.secret_id, sref.region, None, None, None, sref.ref)
    try:
        buffer, _binary = _get_secret(client, current, region)
    except AwsNotFoundError:
        return None
    with buffer:
        view = buffer.view()
        try:
            start = jsonscan.skip_ws(view, 0, len(buffer))
            if start < len(buffer) and view[start] == 0x7B:
                try:
                    return True, [name for name, _s, _e in jsonscan.members(view, start, len(buffer))]
                except jsonscan.JsonScanError:
                    return False, []
            return False, []
        finally:
            view.release()


def _secret_string(pem: SecretBuffer, field: str | None) -> str:
    """The SecretString to send: the PEM, or {"field": "PEM"}. botocore needs a str; this is the one copy.

    The JSON form is built in a buffer sized up front (no reallocation leaving copies behind), then wiped.
    """
    view = pem.view()
    staging = bytearray(0)
    try:
        if not field:
            return str(view, "utf-8")
        head = b"{" + json.dumps(field).encode() + b': "'
        staging = bytearray(len(head) + 6 * len(view) + 2)
        out = memoryview(staging)
        out[: len(head)] = head
        end = jsonscan.escape_into(view, out, len(head))
        out[end : end + 2] = b'"}'
        text = str(out[: end + 2], "utf-8")
        out.release()
        return text
    except UnicodeDecodeError:
        raise KeyFormatError("the key to store is not UTF-8 text (a PEM is ASCII)") from None
    finally:
        view.release()
        wipe(staging)
