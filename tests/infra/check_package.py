"""Checks the deploy package that scripts/package.py wrote, and that .funcignore agrees with it.

    python3 tests/infra/check_package.py target/package/app.zip

- the zip holds host.json, every function folder's function.json and `handler`, nothing else;
- `handler` has mode 0755 in a Unix entry (the app never starts without the execute bit);
- the package stays small (a stray folder would make it hundreds of MB);
- `handler` is a Linux x86-64 executable that asks for no glibc newer than 2.17, and runs;
- the files Core Tools would publish, reading .funcignore as Core Tools does (its GitIgnoreParser,
  a port of codemix/gitignore-parser: a file is left out when a pattern matches the start of its
  path and no `!` pattern does), are exactly the files in the package.
"""

import os
import re
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
MAX_PACKAGE_BYTES = 20_000_000
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


def core_tools_pattern(pattern):
    escaped = re.sub(r"[\-\[\]/{}()+?.\\^$|]", lambda m: "\\" + m.group(0), pattern)
    return escaped.replace("**", "(.+)").replace("*", "([^\\/]+)")


def funcignore_accepts(text):
    positive, negative = [], []
    for line in (l.strip() for l in text.split("\n")):
        if not line or line.startswith("#"):
            continue
        target = negative if line.startswith("!") else positive
        line = line[1:] if line.startswith("!") else line
        target.append(line[1:] if line.startswith("/") else line)

    def regex(patterns):
        if not patterns:
            return re.compile(r"$^")
        return re.compile("^((" + ")|(".join(core_tools_pattern(p) for p in sorted(patterns)) + "))\\b")

    pos, neg = regex(positive), regex(negative)
    return lambda path: bool(neg.match(path)) or not pos.match(path)


def published_files():
    """Every file under the app root that Core Tools would zip (it skips .git and .vscode)."""
    accepts = funcignore_accepts((ROOT / ".funcignore").read_text())
    found = []
    for directory, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not (Path(directory) == ROOT and d in (".git", ".vscode"))]
        for name in files:
            relative = (Path(directory) / name).relative_to(ROOT).as_posix()
            if accepts(relative):
                found.append(relative)
    return sorted(found)


def main(package):
    functions = sorted(p.parent.name for p in ROOT.glob("*/function.json"))
    expected = sorted(["host.json", "handler"] + [f"{f}/function.json" for f in functions])
    with zipfile.ZipFile(package) as archive:
        names = sorted(archive.namelist())
        check(names == expected, f"the package holds {names}, expected {expected}")
        info = archive.getinfo("handler")
        mode = info.external_attr >> 16
        check(info.create_system == 3, "handler's zip entry is not a Unix entry, so its mode is ignored")
        check(stat.S_ISREG(mode) and stat.S_IMODE(mode) == 0o755, f"handler has mode {oct(mode)}, not 0755")
        binary = archive.read("handler")
    size = Path(package).stat().st_size
    check(size <= MAX_PACKAGE_BYTES, f"the package is {size} bytes, over {MAX_PACKAGE_BYTES}")

    check(binary[:4] == b"\x7fELF" and int.from_bytes(binary[18:20], "little") == 62,
          "handler is not an x86-64 ELF executable")
    versions = {tuple(int(p) for p in m.groups()) for m in re.finditer(rb"GLIBC_(\d+)\.(\d+)", binary)}
    check(versions and max(versions) <= (2, 17), f"handler asks for glibc {max(versions, default=None)}, over 2.17")
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "handler"
        path.write_bytes(binary)
        path.chmod(0o755)
        ran = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30)
        version = re.search(r'^version = "([^"]+)"', (ROOT / "Cargo.toml").read_text(), re.M).group(1)
        check(ran.returncode == 0 and ran.stdout.strip() == f"handler {version}",
              f"the packaged handler did not run: {ran.returncode} {ran.stdout!r} {ran.stderr!r}")

    published = published_files()
    check(published == expected, f".funcignore lets Core Tools publish {published}, the package is {expected}")

    if failures:
        print("Package check failed:", *failures, sep="\n  - ")
        sys.exit(1)
    print(f"Package check passed: {len(names)} files, {size / 1e6:.1f} MB, handler 0755, glibc <= 2.17.")


if __name__ == "__main__":
    main(sys.argv[1])
