"""Write the README's settings reference from `tap-perfreports --about --format markdown`.

python scripts/sync_readme_settings.py          # rewrite the table in README.md
python scripts/sync_readme_settings.py --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- settings:start -->", "<!-- settings:end -->"


def settings_table() -> str:
    about = subprocess.run(
        [sys.executable, "-m", "tap_perfreports", "--about", "--format", "markdown"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    lines = about.split("## Settings", 1)[1].strip().splitlines()
    table = [line for line in lines if line.startswith("|")]
    return "\n".join(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether it is current")
    args = parser.parse_args()
    text = README.read_text()
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    updated = f"{before}{START}\n{settings_table()}\n{END}{after}"
    if args.check:
        if updated != text:
            sys.exit("README settings are out of date: run scripts/sync_readme_settings.py")
        return
    README.write_text(updated)


if __name__ == "__main__":
    main()
