"""The objects the emulator holds (its Organization and its Users), and SOQL over them.

Only records the emulator really has are served; any other object is `INVALID_TYPE`, as an object the
org does not have would be on Salesforce.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .soql import Literal, Query, SoqlError

Record = dict[str, Any]

_TYPE_HINTS = {
    "boolean": "must be of type boolean and should not be enclosed in quotes",
    "string": "must be of type string and should be enclosed in quotes",
    "id": "must be of type id and should be enclosed in quotes",
    "datetime": "must be a valid dateTime and should not be enclosed in quotes",
}


@dataclass(frozen=True)
class SObjectType:
    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: tuple[tuple[str, str], ...]  # (API name, type: id, string, boolean or datetime)

    def field(self, name: str) -> tuple[str, str] | None:
        """The field's API name and type, looked up case-insensitively as SOQL does."""
        lowered = name.lower()
        return next((f for f in self.fields if f[0].lower() == lowered), None)

    def describe(self, base: str) -> dict[str, Any]:
        """This object's entry in the global describe (`GET .../sobjects`)."""
        return {
            "name": self.name,
            "label": self.label,
            "labelPlural": self.label_plural,
            "keyPrefix": self.key_prefix,
            "custom": False,
            "queryable": True,
            "retrieveable": True,
            "searchable": False,
            "createable": False,
            "updateable": False,
            "deletable": False,
            "urls": {"rowTemplate": f"{base}/sobjects/{self.name}/{{ID}}"},
        }


USER = SObjectType(
    "User",
    "User",
    "Users",
    "005",
    (
        ("Id", "id"),
        ("Username", "string"),
        ("Name", "string"),
        ("FirstName", "string"),
        ("LastName", "string"),
        ("Email", "string"),
        ("Alias", "string"),
        ("IsActive", "boolean"),
        ("UserType", "string"),
        ("LanguageLocaleKey", "string"),
        ("LocaleSidKey", "string"),
        ("TimeZoneSidKey", "string"),
    ),
)
ORGANIZATION = SObjectType(
    "Organization",
    "Organization",
    "Organizations",
    "00D",
    (
        ("Id", "id"),
        ("Name", "string"),
        ("IsSandbox", "boolean"),
        ("InstanceName", "string"),
        ("OrganizationType", "string"),
        ("NamespacePrefix", "string"),
        ("TrialExpirationDate", "datetime"),
        ("LanguageLocaleKey", "string"),
        ("DefaultLocaleSidKey", "string"),
        ("TimeZoneSidKey", "string"),
    ),
)
TYPES = (ORGANIZATION, USER)


def find_type(name: str) -> SObjectType | None:
    lowered = name.lower()
    return next((t for t in TYPES if t.name.lower() == lowered), None)


def with_attributes(sobject: SObjectType, record: Record, base: str, fields: Sequence[str] | None = None) -> Record:
    """A record as the REST API returns it: `attributes` first, then the fields (all, or those asked for)."""
    out: Record = {"attributes": {"type": sobject.name, "url": f"{base}/sobjects/{sobject.name}/{record['Id']}"}}
    for name in fields if fields is not None else [f[0] for f in sobject.fields]:
        out[name] = record.get(name)
    return out


def _equal(kind: str, stored: Any, wanted: Literal) -> bool:
    if wanted is None or stored is None:
        return stored is wanted
    if kind == "id":  # a 15-character id is the case-sensitive form of the 18-character one
        return isinstance(wanted, str) and str(stored)[: len(wanted)] == wanted and len(wanted) in (15, 18)
    if kind == "string":  # SOQL compares text case-insensitively
        return isinstance(wanted, str) and str(stored).casefold() == wanted.casefold()
    return bool(stored == wanted)


def _check_literal(query: Query, kind: str, field: str, value: Literal, column: int) -> None:
    """Salesforce's refusal of a literal of the wrong type (only `null` fits every field)."""
    if value is None or (kind == "boolean" and isinstance(value, bool)):
        return
    if kind in ("string", "id") and isinstance(value, str):
        if kind == "id" and not (len(value) in (15, 18) and value.isalnum()):
            raise SoqlError("INVALID_QUERY_FILTER_OPERATOR", query.text, column, f"invalid ID field: {value}")
        return
    message = f"value of filter criterion for field '{field}' {_TYPE_HINTS[kind]}"
    raise SoqlError("INVALID_FIELD", query.text, column, message)


_APEX_TYPES = {"id": "Id", "string": "String", "boolean": "Boolean", "datetime": "Datetime"}


@dataclass(frozen=True)
class _Resolved:
    sobject: SObjectType
    selected: list[tuple[str, str]]  # (API name, type), in SELECT order, without repeats
    filters: list[tuple[str, str, Literal]]  # (API name, type, wanted value)


def _resolve(query: Query, records: dict[str, list[Record]]) -> _Resolved:
    """Check the object, the fields and the literals' types, as Salesforce does after parsing."""
    sobject = find_type(query.sobject)
    if sobject is None or sobject.name not in records:
        message = (
            f"sObject type '{query.sobject}' is not supported. If you are attempting to use a custom object, "
            "be sure to append the '__c' after the entity name. Please reference your WSDL or the describe "
            "call for the appropriate names."
        )
        raise SoqlError("INVALID_TYPE", query.text, query.sobject_column, message)

    def field(name: str, column: int) -> tuple[str, str]:
        found = sobject.field(name)
        if found is not None:
            return found
        if "." in name:
            message = (
                f"Didn't understand relationship '{name.split('.', 1)[0]}' in field path. If you are attempting to "
                "use a custom relationship, be sure to append the '__r' after the custom relationship name. Please "
                "reference your WSDL or the describe call for the appropriate names."
            )
        else:
            message = (
                f"No such column '{name}' on entity '{sobject.name}'. If you are attempting to use a custom "
                "field, be sure to append the '__c' after the custom field name. Please reference your WSDL or "
                "the describe call for the appropriate names."
            )
        raise SoqlError("INVALID_FIELD", query.text, column, message)

    selected = list(dict.fromkeys(field(name, column) for name, column in query.fields))
    filters: list[tuple[str, str, Literal]] = []
    for condition in query.where:
        name, kind = field(condition.field, condition.column)
        _check_literal(query, kind, name, condition.value, condition.value_column)
        filters.append((name, kind, condition.value))
    return _Resolved(sobject, selected, filters)


def run(query: Query, records: dict[str, list[Record]], base: str) -> dict[str, Any]:
    """Answer a parsed query over `records` (by object name), in the REST API's result shape."""
    resolved = _resolve(query, records)
    matches = [r for r in records[resolved.sobject.name] if all(_equal(k, r.get(n), v) for n, k, v in resolved.filters)]
    if query.limit is not None:
        matches = matches[: query.limit]
    names = [name for name, _ in resolved.selected]
    return {
        "totalSize": len(matches),
        "done": True,
        "records": [] if query.count else [with_attributes(resolved.sobject, r, base, names) for r in matches],
    }


def columns(query: Query, records: dict[str, list[Record]]) -> dict[str, Any]:
    """What `query?columns=true` answers (the Salesforce CLI asks it before `sf data query`): the
    selected columns' metadata instead of records."""
    resolved = _resolve(query, records)
    return {
        "columnMetadata": [
            {
                "aggregate": False,
                "apexType": _APEX_TYPES[kind],
                "booleanType": kind == "boolean",
                "columnName": name,
                "custom": False,
                "displayName": name,
                "foreignKeyName": None,
                "insertable": False,
                "joinColumns": [],
                "numberType": False,
                "textType": kind == "string",
                "updatable": False,
            }
            for name, kind in resolved.selected
        ],
        "entityName": resolved.sobject.name,
        "groupBy": False,
        "idSelected": any(name == "Id" for name, _ in resolved.selected),
        "keyPrefix": resolved.sobject.key_prefix,
    }
