"""``synclab verify NAME.tar.gz``: check an archive against its manifest without unpacking it.

Exit 0 when every file is there with its recorded sha256, 1 when a file is changed, missing
or extra, 2 when the archive cannot be read or is refused as unsafe.
"""

import argparse
import sys
from pathlib import Path

from .archive import EXIT_MISMATCH, EXIT_USAGE, ArchiveError, problems, verify


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("archive", metavar="NAME.tar.gz", help="an archive made by synclab archive")


def run(args: argparse.Namespace) -> int:
    try:
        checked = verify(Path(args.archive))
    except ArchiveError as error:
        sys.stderr.write(f"synclab verify: {error}\n")
        return EXIT_USAGE
    data = checked.manifest.data
    made = (f"{data.get('kind', '?')} {checked.manifest.root}, packed by synclab {data.get('synclab_version', '?')} "
            f"at {data.get('created', '?')}")
    if checked.ok:
        print(f"{args.archive}: ok, {len(checked.manifest.files)} files match the manifest ({made})")
        return 0
    print(f"{args.archive}: does NOT match its manifest ({made}): {problems(checked)}")
    for label, items in (("changed", checked.changed), ("missing", checked.missing), ("extra", checked.extra)):
        for rel in items:
            print(f"  {label:8} {checked.manifest.root}/{rel}")
    return EXIT_MISMATCH
