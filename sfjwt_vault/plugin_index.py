"""What plugins are installed, read from their distributions' metadata without importing any of them.

The host needs the `sfjwt_vault*` entry-point groups of every distribution on `sys.path` to route a key
reference to one plugin. `importlib.metadata` would do, but importing it costs ~7 ms and each scan a few
more, on every cold start; the same files are read here directly: one directory listing per `sys.path`
folder and one small read per distribution (`entry_points.txt`). Zip files on `sys.path` (zipapps) are
left to `importlib.metadata`, which is imported only when one is present.

Unlike `importlib.metadata.entry_points()`, nothing is de-duplicated by distribution name: a second
folder that calls itself `sfjwt_vault-9.9.dist-info` must not hide the real one (docs/plugins.md).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Iterator
from typing import NamedTuple

GROUP = "sfjwt_vault"
SCHEMES_GROUP = "sfjwt_vault.schemes"
CACHE_SCHEMES_GROUP = "sfjwt_vault.cache_schemes"
EXTRAS_GROUP = "sfjwt_vault.extras"
GROUPS = (GROUP, SCHEMES_GROUP, CACHE_SCHEMES_GROUP, EXTRAS_GROUP)

_METADATA_SUFFIXES = (".dist-info", ".egg-info")
# Patterns, not compiled objects: they are needed only when a plugin declares an extra, and compiling
# at import would cost every `import sfjwt_vault`.
_REQUIREMENT_NAME = r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)"
_EXTRA_MARKER = r"""^\s*extra\s*==\s*(["'])([^"']+)\1\s*$"""


def normalize(name: str) -> str:
    """A distribution or extra name in its comparable form (PEP 503 / PEP 685)."""
    folded = name.lower().replace("_", "-").replace(".", "-")
    while "--" in folded:
        folded = folded.replace("--", "-")
    return folded


class EntryPoint(NamedTuple):
    """One `name = module[:attr] [extra, ...]` line of `entry_points.txt`."""

    name: str
    value: str

    @property
    def target(self) -> str:
        """`module` or `module:attr`, without extras or spaces."""
        return self.value.split("[", 1)[0].replace(" ", "")

    @property
    def module(self) -> str:
        return self.target.split(":", 1)[0]

    @property
    def attr(self) -> str | None:
        parts = self.target.split(":", 1)
        return parts[1] if len(parts) == 2 and parts[1] else None

    @property
    def extras(self) -> tuple[str, ...]:
        if "[" not in self.value:
            return ()
        inner = self.value.split("[", 1)[1].split("]", 1)[0]
        return tuple(normalize(extra.strip()) for extra in inner.split(",") if extra.strip())


class Distribution:
    """One installed distribution that registers sfjwt_vault entry points, found at `path`."""

    __slots__ = ("_headers", "_record", "groups", "path")

    def __init__(
        self, path: str, groups: dict[str, list[EntryPoint]], headers: dict[str, list[str]] | None = None
    ) -> None:
        self.path = path  # the .dist-info or .egg-info folder
        self.groups = groups
        self._headers = headers
        self._record: list[str] | None = None

    def __repr__(self) -> str:
        return f"<Distribution {self.path}>"

    @property
    def base(self) -> str:
        """The folder the metadata folder sits in: the `sys.path` entry the distribution was found on."""
        return os.path.dirname(self.path)

    @property
    def folder_name(self) -> str:
        """The name the metadata folder gives (`sfjwt_vault-0.1.0.dist-info` -> `sfjwt-vault`)."""
        return normalize(_name_from_folder(os.path.basename(self.path)) or "")

    @property
    def name(self) -> str:
        names = self.headers.get("name")
        return names[0] if names else _name_from_folder(os.path.basename(self.path)) or "?"

    @property
    def version(self) -> str | None:
        versions = self.headers.get("version")
        return versions[0] if versions else None

    @property
    def headers(self) -> dict[str, list[str]]:
        """The core metadata fields (lower-cased names), read once and only up to the description."""
        if self._headers is None:
            metadata = "PKG-INFO" if self.path.endswith(".egg-info") else "METADATA"
            self._headers = _read_headers(os.path.join(self.path, metadata))
        return self._headers

    def requirements_for(self, extra: str) -> list[str]:
        """Names of the distributions the extra adds (`Requires-Dist: boto3>=1.34; extra == "aws"`).

        Only requirements whose marker is exactly `extra == "<name>"` are listed: deciding other markers
        needs a full marker evaluator, and a wrong "missing" would refuse a working plugin.
        """
        wanted = normalize(extra)
        names: list[str] = []
        for requirement in self.headers.get("requires-dist", []):
            spec, _, marker = requirement.partition(";")
            match = re.match(_EXTRA_MARKER, marker)
            name = re.match(_REQUIREMENT_NAME, spec)
            if match and name and normalize(match.group(2)) == wanted:
                names.append(name.group(1))
        return names

    def record(self) -> list[str]:
        """Paths listed in RECORD (the files the installer wrote), relative to `base`."""
        if self._record is None:
            try:
                with open(os.path.join(self.path, "RECORD"), encoding="utf-8") as handle:
                    self._record = [line.split(",", 1)[0] for line in handle if line.strip()]
            except OSError:
                self._record = []
        return self._record


class Index(NamedTuple):
    """Every distribution with sfjwt_vault entry points, and the names of everything installed."""

    distributions: list[Distribution]
    installed: set[str]  # normalized names of every distribution on the path

    def missing(self, distribution: Distribution, extras: Iterable[str]) -> dict[str, list[str]]:
        """extra -> the requirements of that extra that are not installed (empty when all are)."""
        gaps: dict[str, list[str]] = {}
        for extra in extras:
            absent = [name for name in distribution.requirements_for(extra) if normalize(name) not in self.installed]
            if absent:
                gaps[extra] = absent
        return gaps


def scan(path: list[str] | None = None) -> Index:
    """Read the entry points of every distribution on `path` (default `sys.path`), in path order."""
    distributions: list[Distribution] = []
    installed: set[str] = set()
    zips: list[str] = []
    seen: set[str] = set()
    for entry in sys.path if path is None else path:
        folder = entry or "."
        key = os.path.abspath(folder)
        if key in seen:
            continue
        seen.add(key)
        try:
            children = list(os.scandir(folder))
        except NotADirectoryError:
            zips.append(entry)
            continue
        except OSError:
            continue
        for child in sorted(children, key=lambda item: item.name):
            if not child.name.endswith(_METADATA_SUFFIXES):
                continue
            name = _name_from_folder(child.name)
            if name:
                installed.add(normalize(name))
            groups = _read_groups(os.path.join(child.path, "entry_points.txt"))
            if groups:
                distributions.append(Distribution(child.path, groups))
    if zips:
        _scan_zips(zips, distributions, installed)
    return Index(distributions, installed)


def _scan_zips(entries: list[str], distributions: list[Distribution], installed: set[str]) -> None:
    """Zip files on sys.path: only importlib.metadata reads those."""
    import importlib.metadata

    for dist in importlib.metadata.distributions(path=entries):
        name = dist.metadata["Name"] or ""
        installed.add(normalize(name))
        groups: dict[str, list[EntryPoint]] = {}
        for ep in dist.entry_points:
            if ep.group in GROUPS:
                groups.setdefault(ep.group, []).append(EntryPoint(ep.name, ep.value))
        if groups:
            located = getattr(dist, "_path", None)
            headers = {"name": [name], "version": [dist.version]}
            headers["requires-dist"] = list(dist.requires or [])
            distributions.append(Distribution(str(located or name), groups, headers))


def _read_groups(path: str) -> dict[str, list[EntryPoint]]:
    """The sfjwt_vault groups of one entry_points.txt; {} if it has none (most distributions)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError):
        return {}
    if "[sfjwt_vault" not in text:
        return {}
    return dict(_parse_entry_points(text))


def _parse_entry_points(text: str) -> Iterator[tuple[str, list[EntryPoint]]]:
    group: str | None = None
    entries: list[EntryPoint] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            if group in GROUPS and entries:
                yield group, entries
            group, entries = line[1:-1].strip(), []
            continue
        name, sep, value = line.partition("=")
        if sep and group in GROUPS and name.strip() and value.strip():
            entries.append(EntryPoint(name.strip(), value.strip()))
    if group in GROUPS and entries:
        yield group, entries


def _read_headers(path: str) -> dict[str, list[str]]:
    """Email-style headers up to the first blank line (the description that follows can be long)."""
    headers: dict[str, list[str]] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            last: str | None = None
            for line in handle:
                if not line.strip():
                    break
                if line[0] in " \t" and last is not None:
                    headers[last][-1] += " " + line.strip()
                    continue
                name, sep, value = line.partition(":")
                if sep:
                    last = name.strip().lower()
                    headers.setdefault(last, []).append(value.strip())
    except OSError:
        return {}
    return headers


def _name_from_folder(folder: str) -> str | None:
    for suffix in _METADATA_SUFFIXES:
        if folder.endswith(suffix):
            return folder[: -len(suffix)].split("-", 1)[0] or None
    return None
