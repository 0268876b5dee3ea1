"""`sfjwt doctor`: the setup checklist, line by line, each with its fix.

Most JWT Bearer failures are setup failures, and Salesforce answers them with short, ambiguous strings.
The doctor walks the troubleshooting order (consumer key, username, audience, certificate, user access,
API permission, clock), first offline from the configuration alone (`offline`), then with one real
exchange on a private token cache (`live`), and maps Salesforce's answer onto the line that explains
it. `report` shows the findings. It never prints the access token, the assertion or the key; the
consumer key is shown only by its first characters.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from .. import settings as settings_module
from ..errors import ConfigurationError
from ..plugins import PluginHost, get_host
from .findings import Report
from .live import run_live
from .offline import (
    Options,
    check_audience,
    check_certificate,
    check_consumer_key,
    check_key,
    check_settings,
    check_username,
    resolve_endpoints,
)
from .report import exit_code, render_json, render_text


def diagnose(
    settings: settings_module.Settings,
    problems: dict[str, ConfigurationError],
    options: Options,
    host: PluginHost,
) -> Report:
    """Every check, in the checklist's order; the live ones after the offline ones."""
    report = Report(username=settings.get("username") or "")
    check_settings(report, settings, problems)
    resolve_endpoints(report, settings, problems)
    check_consumer_key(report, settings)
    check_username(report, settings)
    check_audience(report, settings, options)
    public = check_key(report, settings, host)
    check_certificate(report, options, settings, public)
    run_live(report, settings, options, host)
    return report


def run(args: argparse.Namespace, *, host: PluginHost | None = None, out: TextIO | None = None) -> int:
    """The `sfjwt doctor` command: 0 when nothing FAILed (WARN is fine), 1 otherwise."""
    settings, problems = settings_module.read_all(flags=settings_module.flags_from(args))
    options = Options(
        cert=getattr(args, "cert", None),
        external_client_app=bool(getattr(args, "external_client_app", False)),
        offline=bool(getattr(args, "offline", False)),
    )
    report = diagnose(settings, problems, options, host or get_host())
    stream = out or sys.stdout
    if getattr(args, "format", "text") == "json":
        render_json(report, stream)
    else:
        render_text(report, stream)
    return exit_code(report)
