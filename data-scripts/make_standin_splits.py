#!/usr/bin/env python3
"""Writes the offline stand-in splits for QNLI and QQP (no train sets offline): a fixed 80/20 split of dev.tsv.

Rows are numbered from 0 in file order (header excluded). A seeded shuffle (random.Random(20210601)) puts the first
80% in <task>-train.txt and the rest in <task>-dev.txt, one index per line, ascending. QQP's stand-in train set is
subsampled to 12,000 rows so the offline grid fits on 2 cores; its held-out 20% is kept whole.

    python3 data-scripts/make_standin_splits.py [--glue ../shared/glue] [--out experiments/splits]
"""
import argparse
import os
import random

SUBSAMPLE = {"qqp": 12000}


def rows(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    return len([line for line in lines[1:] if line])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--glue", default="../shared/glue")
    parser.add_argument("--out", default="experiments/splits")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for task, folder in [("qnli", "QNLI"), ("qqp", "QQP")]:
        n = rows(os.path.join(args.glue, folder, "dev.tsv"))
        order = list(range(n))
        random.Random(20210601).shuffle(order)
        cut = int(0.8 * n)
        train, dev = order[:cut], order[cut:]
        if task in SUBSAMPLE:
            train = train[: SUBSAMPLE[task]]
        for name, indices in [("train", train), ("dev", dev)]:
            with open(os.path.join(args.out, f"{task}-{name}.txt"), "w") as f:
                f.write("\n".join(map(str, sorted(indices))) + "\n")
        print(f"{task}: {n} dev rows -> {len(train)} train, {len(dev)} held out")


if __name__ == "__main__":
    main()
