"""Load the emulator fixtures, unless the installed package's pytest11 entry point already did."""

from importlib.metadata import entry_points

_PLUGIN = "sfjwt_vault.testing.pytest_plugin"

if not any(ep.value == _PLUGIN for ep in entry_points(group="pytest11")):
    pytest_plugins = [_PLUGIN]
