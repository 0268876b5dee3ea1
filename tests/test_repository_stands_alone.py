"""The repository stands alone: nothing in it points at a file outside it (a user never gets those)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Paths of the machine the project was built on, and the notes kept beside the repository there.
OUTSIDE = re.compile(r"/work/|salesforce-facts|\.\./shared|(?<![\w.])shared/")


def tracked_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / name for name in listed.decode().split("\0") if name]


def test_no_file_refers_to_a_path_outside_the_repository() -> None:
    files = tracked_files()
    assert len(files) > 50
    offenders = []
    for path in files:
        if path == Path(__file__) or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        offenders += [
            f"{path.relative_to(ROOT)}:{n}" for n, line in enumerate(text.splitlines(), 1) if OUTSIDE.search(line)
        ]
    assert not offenders, f"these lines point outside the repository: {offenders}"
