"""Checks the infrastructure as far as an offline CI can: every .bicep file parses with pycep
(the Bicep parser checkov uses), checkov finds no failed check, and every suppression says why.
`az bicep build` is the final word; its compiler downloads itself and cannot run here.
Run by scripts/test.sh with the tools it installs."""

import pathlib
import re
import subprocess
import sys

import pycep

ROOT = pathlib.Path(__file__).resolve().parents[2]
SKIP = re.compile(r"//\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?")


def main() -> int:
    passed = failed = 0
    files = sorted((ROOT / "infra").rglob("*.bicep"))
    if not files:
        print("FAIL no .bicep files under infra/")
        return 1
    for path in files:
        name = path.relative_to(ROOT)
        try:
            pycep.BicepParser().parse(file_path=path)
            print(f"ok   parse {name}")
            passed += 1
        except Exception as error:  # the parser raises lark errors of several kinds
            print(f"FAIL parse {name}: {str(error).splitlines()[0]}")
            failed += 1
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = SKIP.search(line)
            if match and len((match.group(2) or "").strip()) < 15:
                print(f"FAIL {name}:{number}: suppression of {match.group(1)} without a reason")
                failed += 1
    scan = subprocess.run(
        [sys.executable, "-m", "checkov.main", "-d", str(ROOT / "infra"), "--framework", "bicep",
         "--compact", "--quiet", "--skip-download", "--output", "cli"],
        capture_output=True, text=True, check=False,
    )
    summary = re.search(r"Passed checks: (\d+), Failed checks: (\d+), Skipped checks: (\d+)(?:, Parsing errors: (\d+))?", scan.stdout)
    if summary is None:
        print("FAIL checkov printed no summary:\n" + scan.stdout[-2000:] + scan.stderr[-2000:])
        failed += 1
    else:
        checks_passed, checks_failed, skipped, parse_errors = (int(g or 0) for g in summary.groups())
        print(f"checkov: {checks_passed} passed, {checks_failed} failed, {skipped} suppressed with reasons, {parse_errors} parsing errors")
        if checks_failed or parse_errors or checks_passed == 0:
            print(scan.stdout[-4000:])
            failed += 1
        else:
            passed += 1
    print(f"infra: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
