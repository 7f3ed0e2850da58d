#!/usr/bin/env python3
"""Downloads the official GLUE data for SST-2, QNLI, QQP and MNLI (needs internet) and verifies row counts.

    python3 data-scripts/download_glue.py --out data/glue

Then point the suite at it with `--data data/glue` or `RGP_GLUE_DIR=data/glue`. Offline machines use the
recovered copy in ../shared/glue instead (`RGP_GLUE_DIR=../shared/glue`; see its README: SST-2 complete,
QNLI/QQP/MNLI dev only). Only the Python standard library is used.
"""
import argparse
import io
import os
import sys
import urllib.request
import zipfile

BASE = "https://dl.fbaipublicfiles.com/glue/data/"
TASKS = {
    # folder: (archive, {file: data rows (header excluded)})
    "SST-2": ("SST-2.zip", {"train.tsv": 67349, "dev.tsv": 872}),
    "QNLI": ("QNLIv2.zip", {"train.tsv": 104743, "dev.tsv": 5463}),
    "QQP": ("QQP-clean.zip", {"train.tsv": 363846, "dev.tsv": 40430}),
    "MNLI": ("MNLI.zip", {"train.tsv": 392702, "dev_matched.tsv": 9815, "dev_mismatched.tsv": 9832}),
}


def data_rows(path):
    """Lines after the header, split on newline only (no quote processing, as the suite reads them)."""
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return len(lines) - 1


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="data/glue")
    parser.add_argument("--tasks", nargs="*", default=list(TASKS))
    args = parser.parse_args()
    failures = []
    for folder in args.tasks:
        archive, expected = TASKS[folder]
        target = os.path.join(args.out, folder)
        if not all(os.path.exists(os.path.join(target, f)) for f in expected):
            print(f"download_glue: fetching {BASE + archive}")
            with urllib.request.urlopen(BASE + archive, timeout=120) as response:
                payload = response.read()
            with zipfile.ZipFile(io.BytesIO(payload)) as z:
                z.extractall(args.out)
            if not os.path.isdir(target):  # QNLIv2.zip unpacks as QNLI/, others as their folder
                sys.exit(f"download_glue: {archive} did not unpack into {target}")
        for name, rows in expected.items():
            found = data_rows(os.path.join(target, name))
            status = "ok" if found == rows else f"MISMATCH (expected {rows})"
            print(f"download_glue: {folder}/{name}: {found} rows {status}")
            if found != rows:
                failures.append(f"{folder}/{name}")
    if failures:
        sys.exit(f"download_glue: row counts differ for {', '.join(failures)}")


if __name__ == "__main__":
    main()
