#!/usr/bin/env python3
"""Builds the deploy package: the zip that `func azure functionapp publish` and Flex Consumption's
one-deploy upload, and nothing else.

    python3 scripts/package.py                      # build the Linux binary, write dist/app.zip
    python3 scripts/package.py --binary PATH        # package a binary built elsewhere
    python3 scripts/package.py --out PATH.zip

It works the same on Linux, macOS and Windows. The binary is built for Linux x64 against glibc
2.17 (what every Functions image has) with cargo-zigbuild, which uses Zig as the C cross-compiler
and linker: no system cross-compiler, no musl tools. The tools are installed on first use, into
`.tools/` (cargo-zigbuild with `cargo install`, Zig from PyPI's `ziglang`); the only Rust target
needed is `x86_64-unknown-linux-gnu` (`rustup target add x86_64-unknown-linux-gnu` on macOS and
Windows; Linux x64 has it already).

The package holds `host.json`, every function folder's `function.json` and `handler` with mode
0755: a zip that loses the execute bit (as zips made on Windows do) leaves an app that never
starts. `.funcignore` lists the same files, so Core Tools' own zip is this one; the tests check
that the two agree. The binary is also copied to the app root as `handler`, where Core Tools and
`func start` look for it.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = "x86_64-unknown-linux-gnu"
GLIBC = (2, 17)
ZIGLANG = "ziglang==0.13.0.post1"
CARGO_ZIGBUILD = "0.24.1"
TOOLS = ROOT / ".tools"
EXECUTABLE = 0o100755  # a regular file, rwxr-xr-x


def venv_python() -> Path:
    scripts = "Scripts" if os.name == "nt" else "bin"
    return TOOLS / "venv" / scripts / ("python.exe" if os.name == "nt" else "python")


def run(*args, **kwargs) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], check=True, **kwargs)


def ensure_tools() -> dict:
    """Installs Zig and cargo-zigbuild under .tools/ if missing; returns the build environment."""
    python = venv_python()
    if not python.exists():
        run(sys.executable, "-m", "venv", TOOLS / "venv")
    probe = subprocess.run([str(python), "-c", "import ziglang"], capture_output=True)
    if probe.returncode != 0:
        run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", ZIGLANG)
    zigbuild = TOOLS / "cargo" / "bin" / ("cargo-zigbuild.exe" if os.name == "nt" else "cargo-zigbuild")
    if not zigbuild.exists():
        run("cargo", "install", "--quiet", "--locked", "cargo-zigbuild", "--version", CARGO_ZIGBUILD,
            "--root", TOOLS / "cargo")
    env = dict(os.environ)
    # cargo-zigbuild runs `python -m ziglang` when no `zig` is on PATH: put the venv first.
    env["PATH"] = os.pathsep.join([str(python.parent), str(zigbuild.parent), env.get("PATH", "")])
    return env


def build() -> Path:
    installed = subprocess.run(["rustup", "target", "list", "--installed"], capture_output=True, text=True)
    if installed.returncode == 0 and TARGET not in installed.stdout.split():
        sys.exit(f"The Rust target {TARGET} is missing: run `rustup target add {TARGET}`.")
    env = ensure_tools()
    run("cargo", "zigbuild", "--release", "--locked", "--target", f"{TARGET}.{GLIBC[0]}.{GLIBC[1]}",
        "--bin", "handler", cwd=ROOT, env=env)
    return ROOT / "target" / TARGET / "release" / "handler"


def glibc_versions(binary: bytes) -> list:
    """The glibc symbol versions an ELF binary asks for (from its version-needs strings)."""
    return sorted({tuple(int(p) for p in m.groups()) for m in re.finditer(rb"GLIBC_(\d+)\.(\d+)", binary)})


def check_binary(path: Path) -> None:
    data = path.read_bytes()
    # ELF magic, 64-bit, little-endian, machine x86-64 (62).
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1 or int.from_bytes(data[18:20], "little") != 62:
        sys.exit(f"{path} is not a Linux x86-64 executable; the Functions image cannot run it.")
    newer = [v for v in glibc_versions(data) if v > GLIBC]
    if newer:
        wanted = ".".join(map(str, max(newer)))
        sys.exit(f"{path} needs glibc {wanted}, newer than {GLIBC[0]}.{GLIBC[1]}: build it with this script.")


def package_files() -> list:
    """What the host runs, as (path in the zip, path on disk): host.json and every function.json."""
    functions = sorted(p.parent.name for p in ROOT.glob("*/function.json"))
    return [("host.json", ROOT / "host.json")] + [
        (f"{name}/function.json", ROOT / name / "function.json") for name in functions
    ]


def entry(name: str, mode: int) -> zipfile.ZipInfo:
    """A Unix zip entry (unzip and Kudu honour its mode bits) with a fixed date, so a package's
    bytes depend only on its files."""
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    info.create_system = 3
    info.external_attr = mode << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def write_zip(out: Path, binary: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w") as archive:
        for name, source in package_files():
            archive.writestr(entry(name, 0o100644), source.read_bytes())
        archive.writestr(entry("handler", EXECUTABLE), binary.read_bytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", type=Path, help="a Linux x64 handler built elsewhere")
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "app.zip")
    args = parser.parse_args()
    binary = args.binary or build()
    check_binary(binary)
    write_zip(args.out, binary)
    app_root_binary = ROOT / "handler"
    if binary.resolve() != app_root_binary.resolve():
        shutil.copyfile(binary, app_root_binary)
    if os.name != "nt":
        app_root_binary.chmod(0o755)
    size = args.out.stat().st_size
    print(f"Wrote {args.out} ({size / 1e6:.1f} MB): host.json, {len(package_files()) - 1} functions, handler.")


if __name__ == "__main__":
    main()
