"""``synclab verify NAME.tar.gz``: check an archive against its manifest, then judge what it holds.

A manifest that matches proves the files are the ones packed, not that they are true: every
result.json inside is read as ``synclab report`` reads it (judge.py; stressjudge.py for a stress
run), and a record its own numbers
contradict, or one that cannot be read, fails the check. Exit 0 when every file is there with
its recorded sha256 and every result agrees with its numbers, 1 when a file is changed, missing
or extra or a result is contradicted or unreadable, 2 when the archive cannot be read or is
refused as unsafe.
"""

import argparse
import sys
from pathlib import Path
from typing import List

from synclab.records.archive import EXIT_MISMATCH, EXIT_USAGE, ArchiveError, Verification, problems, unpacked, verify


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("archive", metavar="NAME.tar.gz", help="an archive made by synclab archive")


def judged_contents(archive: Path, root: str) -> List[str]:
    """One line per result inside the archive that its own numbers contradict or that cannot be read."""
    from synclab.reports.report import collect

    with unpacked(archive) as directory:
        report = collect(directory)
    where = lambda path: root if path == "." else f"{root}/{path}"  # noqa: E731
    lines = [f"  inconsistent  {where(row.path)}: {claim}"
             for row in (*report.rows, *report.stress) for claim in row.inconsistencies]
    lines += [f"  unreadable    {where(skipped.path)}: {skipped.reason}" for skipped in report.skipped]
    return lines


def run(args: argparse.Namespace) -> int:
    try:
        checked = verify(Path(args.archive))
        contents = judged_contents(Path(args.archive), checked.manifest.root) if checked.ok else []
    except ArchiveError as error:
        sys.stderr.write(f"synclab verify: {error}\n")
        return EXIT_USAGE
    made = _made(checked)
    if checked.ok and not contents:
        print(f"{args.archive}: ok, {len(checked.manifest.files)} files match the manifest ({made}); "
              "every result agrees with its own numbers")
        return 0
    if checked.ok:
        print(f"{args.archive}: files match the manifest ({made}), but what they record does not hold: "
              f"{len(contents)} problem{'s' * (len(contents) != 1)}")
        print("\n".join(contents))
        return EXIT_MISMATCH
    print(f"{args.archive}: does NOT match its manifest ({made}): {problems(checked)}")
    for label, items in (("changed", checked.changed), ("missing", checked.missing), ("extra", checked.extra)):
        for rel in items:
            print(f"  {label:8} {checked.manifest.root}/{rel}")
    return EXIT_MISMATCH


def _made(checked: Verification) -> str:
    data = checked.manifest.data
    return (f"{data.get('kind', '?')} {checked.manifest.root}, packed by synclab {data.get('synclab_version', '?')} "
            f"at {data.get('created', '?')}")
