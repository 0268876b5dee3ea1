"""Build the Lambda deployment zip (or a layer) for examples/lambda/handler.py with sfjwt-vault in it.

    python examples/lambda/build.py                       # dist/function.zip for python3.12 on x86_64
    python examples/lambda/build.py --python 3.13 --arch arm64 --out dist/function-arm64.zip
    python examples/lambda/build.py --layer --out dist/sfjwt-layer.zip   # python/... for a layer

It builds the sfjwt-vault wheel from this checkout (or takes `--wheel`), then lets pip pick the
manylinux wheels of every dependency for the runtime's Python and architecture
(`pip install --platform ... --python-version ... --only-binary=:all: --target`), so the zip can be
built on any machine, macOS and Windows included. Nothing is compiled from source.

What is left out: boto3 and botocore (with s3transfer, jmespath, python-dateutil and six, which
only they need) are part of every managed Python runtime, so the `aws` extra is installed without
them unless `--with-boto3` is given. urllib3 stays in: the `aws` extra's security floor
(urllib3 >= 2.6.3) must hold whatever the runtime ships, and the function's copy comes first on
`sys.path` (LAMBDA_TASK_ROOT before the runtime's folder); every botocore on Python 3.10+ accepts
urllib3 2.x. See examples/lambda/README.md for when to bundle boto3 anyway.

Bytecode is compiled with the target interpreter when one is at hand (this one, or `pythonX.Y` on
PATH), with unchecked-hash .pyc files: /var/task is read-only, so without them every cold start
compiles every module again, and timestamp-checked .pyc files would go stale when the zip's 2-second
timestamps meet the sources' real ones.

Prints the sizes against Lambda's limits (50 MB zipped for a direct upload, 250 MB unzipped for the
function and all its layers together); `--json` prints them as JSON instead.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HANDLER = Path(__file__).resolve().with_name("handler.py")

ZIPPED_LIMIT = 50 * 1024 * 1024  # direct upload (larger zips go through S3, the unzipped limit stays)
UNZIPPED_LIMIT = 250 * 1024 * 1024  # function code and all its layers, unzipped
# What the managed Python runtimes already carry and the `aws` extra would otherwise pull in.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six")
# Amazon Linux 2023 (python3.12 and newer) has glibc 2.34; Amazon Linux 2 (3.10, 3.11) glibc 2.26.
GLIBC = {"3.10": 26, "3.11": 26}
GLIBC_AL2023 = 34
ARCHES = {"x86_64": "x86_64", "arm64": "aarch64"}
SOURCES = ("pyproject.toml", "README.md", "sfjwt_vault", "plugins")
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass
class Report:
    """What was built, and its size against Lambda's limits."""

    zip_path: str
    python: str
    arch: str
    layer: bool
    with_boto3: bool
    precompiled: bool
    zipped_bytes: int
    unzipped_bytes: int
    zipped_limit: int = ZIPPED_LIMIT
    unzipped_limit: int = UNZIPPED_LIMIT
    distributions: list[str] = field(default_factory=list)
    largest: list[tuple[str, int]] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return self.zipped_bytes <= self.zipped_limit and self.unzipped_bytes <= self.unzipped_limit

    def text(self) -> str:
        mb = 1024 * 1024
        lines = [
            f"built {self.zip_path} ({'layer' if self.layer else 'function'}, python{self.python}, {self.arch}, "
            f"{'with' if self.with_boto3 else 'without'} boto3, {'precompiled' if self.precompiled else 'no .pyc'})",
            f"  zipped:   {self.zipped_bytes / mb:6.1f} MB of {self.zipped_limit / mb:.0f} MB for a direct upload "
            f"({100 * self.zipped_bytes / self.zipped_limit:.0f}%)",
            f"  unzipped: {self.unzipped_bytes / mb:6.1f} MB of {self.unzipped_limit / mb:.0f} MB with all layers "
            f"({100 * self.unzipped_bytes / self.unzipped_limit:.0f}%)",
            "  largest:  " + ", ".join(f"{name} {size / mb:.1f} MB" for name, size in self.largest),
        ]
        if not self.fits:
            lines.append("  DOES NOT FIT Lambda's limits")
        return "\n".join(lines)


def platforms(python: str, arch: str) -> list[str]:
    """Every manylinux tag the runtime's glibc accepts, newest first (pip does not expand them itself)."""
    machine = ARCHES[arch]
    newest = GLIBC.get(python, GLIBC_AL2023)
    return [f"manylinux_2_{minor}_{machine}" for minor in range(newest, 16, -1)] + [f"manylinux2014_{machine}"]


def build_wheel(workdir: Path) -> Path:
    """The sfjwt-vault wheel, built from a clean copy of the sources (no stale setuptools build/)."""
    source = workdir / "src"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(path, source / name)
    out = workdir / "wheel"
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(source)]
    try:
        import setuptools  # noqa: F401
        import wheel  # noqa: F401

        command.insert(4, "--no-build-isolation")  # use this environment's setuptools: no download
    except ImportError:
        pass
    subprocess.run(command, check=True)  # noqa: S603 - this interpreter's pip, our own arguments
    return next(out.glob("sfjwt_vault-*.whl"))


def extra_requirements(wheel: Path, extra: str) -> list[str]:
    """The wheel's Requires-Dist lines for one extra, without their markers."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(name).decode("utf-8"))
    marker = re.compile(rf"""extra\s*==\s*["']{re.escape(extra)}["']""")
    return [
        line.split(";", 1)[0].strip()
        for line in metadata.get_all("Requires-Dist") or []
        if ";" in line and marker.search(line.split(";", 1)[1])
    ]


def requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    return re.sub(r"[-_.]+", "-", match.group(0)).lower() if match else requirement


def install(wheel: Path, target: Path, python: str, arch: str, extras: list[str], with_boto3: bool) -> None:
    requirements = [str(wheel)]
    for extra in extras:
        for requirement in extra_requirements(wheel, extra):
            if with_boto3 or requirement_name(requirement) not in RUNTIME_PROVIDED:
                requirements.append(requirement)
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-compile",
        "--target",
        str(target),
        "--implementation",
        "cp",
        "--python-version",
        python,
        "--only-binary=:all:",
    ]
    for platform in platforms(python, arch):
        command += ["--platform", platform]
    subprocess.run([*command, *requirements], check=True)  # noqa: S603 - this interpreter's pip
    if not with_boto3:
        dists = [p.name for p in target.glob("*.dist-info")]
        present = [name for name in dists if requirement_name(name.split("-")[0]) in RUNTIME_PROVIDED]
        if present:
            raise SystemExit(f"error: {', '.join(present)} came in through another requirement; use --with-boto3")
    shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts: no use in a function


def target_interpreter(python: str) -> str | None:
    """An interpreter of the runtime's Python version to compile bytecode with, if there is one."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == python:
        return sys.executable
    return shutil.which(f"python{python}")


def precompile(folder: Path, python: str) -> bool:
    interpreter = target_interpreter(python)
    if interpreter is None:
        return False
    if interpreter == sys.executable:
        return bool(
            compileall.compile_dir(
                str(folder),
                quiet=1,
                workers=0,
                invalidation_mode=compileall.py_compile.PycInvalidationMode.UNCHECKED_HASH,  # type: ignore[attr-defined]
            )
        )
    command = [interpreter, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(folder)]
    return subprocess.run(command, check=False).returncode == 0  # noqa: S603 - pythonX.Y from PATH


def pack(folder: Path, zip_path: Path, prefix: str = "") -> int:
    """A reproducible zip: sorted names, fixed dates, files 0644 (Lambda must be able to read them)."""
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_dir() or path.is_symlink():
                continue
            info = zipfile.ZipInfo(prefix + path.relative_to(folder).as_posix(), date_time=ZIP_DATE)
            info.external_attr = (0o100644 if not os.access(path, os.X_OK) else 0o100755) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return zip_path.stat().st_size


def largest(folder: Path, count: int = 5) -> list[tuple[str, int]]:
    sizes: dict[str, int] = {}
    for path in folder.rglob("*"):
        if path.is_file():
            top = path.relative_to(folder).parts[0]
            sizes[top] = sizes.get(top, 0) + path.stat().st_size
    return sorted(sizes.items(), key=lambda item: -item[1])[:count]


def build(
    out: Path,
    *,
    python: str = "3.12",
    arch: str = "x86_64",
    layer: bool = False,
    with_boto3: bool = False,
    extras: tuple[str, ...] = ("aws",),
    wheel: Path | None = None,
    compile_bytecode: bool = True,
    keep: Path | None = None,
) -> Report:
    """Build the zip at `out`; `keep` also leaves the unzipped tree there (what Lambda unpacks)."""
    with tempfile.TemporaryDirectory(prefix="sfjwt-lambda-") as tmp:
        workdir = Path(tmp)
        wheel = wheel or build_wheel(workdir)
        staging = workdir / "package"
        install(wheel, staging, python, arch, list(extras), with_boto3)
        if not layer:
            shutil.copy2(HANDLER, staging / HANDLER.name)
        precompiled = compile_bytecode and precompile(staging, python)
        zipped = pack(staging, out, prefix="python/" if layer else "")
        unzipped = sum(p.stat().st_size for p in staging.rglob("*") if p.is_file())
        report = Report(
            zip_path=str(out),
            python=python,
            arch=arch,
            layer=layer,
            with_boto3=with_boto3,
            precompiled=precompiled,
            zipped_bytes=zipped,
            unzipped_bytes=unzipped,
            distributions=sorted(p.name.removesuffix(".dist-info") for p in staging.glob("*.dist-info")),
            largest=largest(staging),
        )
        if keep is not None:
            shutil.copytree(staging, keep, dirs_exist_ok=True)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--python",
        default="3.12",
        choices=["3.10", "3.11", "3.12", "3.13", "3.14"],
        help="the runtime's Python version (default 3.12, the Terraform module's python3.12)",
    )
    parser.add_argument("--arch", default="x86_64", choices=sorted(ARCHES), help="the function's architecture")
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "function.zip", help="the zip to write")
    parser.add_argument("--layer", action="store_true", help="a layer (python/...) without the handler")
    parser.add_argument("--with-boto3", action="store_true", help="bundle boto3/botocore instead of the runtime's")
    parser.add_argument("--extra", action="append", dest="extras", help="sfjwt-vault extras (default: aws)")
    parser.add_argument("--wheel", type=Path, help="a prebuilt sfjwt-vault wheel instead of this checkout")
    parser.add_argument("--no-compile", action="store_true", help="ship sources only (slower cold starts)")
    parser.add_argument("--keep", type=Path, help="also copy the unzipped tree to this folder")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    report = build(
        args.out,
        python=args.python,
        arch=args.arch,
        layer=args.layer,
        with_boto3=args.with_boto3,
        extras=tuple(args.extras or ["aws"]),
        wheel=args.wheel,
        compile_bytecode=not args.no_compile,
        keep=args.keep,
    )
    print(json.dumps({**asdict(report), "fits": report.fits}, indent=2) if args.json else report.text())
    return 0 if report.fits else 1


if __name__ == "__main__":
    raise SystemExit(main())
