"""The SST-2 workload of two or more builds side by side: `rgp bench workload` (RGP, real SST-2 train sentences in the
trainer's micro-batches) for each build in each layout, interleaved round by round on this machine, with the steal
share of every run. Issue 12's "tokens/s ≥ 2× the code of the filing" is read off this table.

Layouts: `threads` (one process × 2 threads), `ranks` (two thread ranks × 1 thread; builds without --ranks skip it)
and `mpi` (two Open MPI ranks × 1 thread, bound to cores; skipped without mpirun). The first build named is the
baseline; the table gives each build's median per layout, its best layout against the baseline's best, and each
layout against the baseline's same layout.

    python3 data-scripts/workload_rounds.py --build old=../base/.build/release/rgp --build new=.build/release/rgp \\
        --data ../shared/glue --rounds 5 --out results/bench/workload-rounds.json > results/bench/workload-rounds.md
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

from bench_compare import cpu_name, cpu_ticks, steal_share

LAYOUTS = {
    "threads": ("1 process × 2 threads", ["--threads", "2"]),
    "ranks": ("2 thread ranks × 1 thread", ["--ranks", "2", "--threads", "1"]),
    "mpi": ("2 MPI ranks × 1 thread", ["--threads", "1"]),
}
TOKENS = re.compile(r"\]: ([0-9.]+) tokens/s")


def supports_ranks(binary):
    out = subprocess.run([binary, "bench", "workload", "--help"], capture_output=True, text=True).stdout
    return "--ranks" in out


def run(binary, layout, args):
    command = [binary, "bench", "workload", "--data", args.data, "--steps", str(args.steps), "--method", "rgp",
               *LAYOUTS[layout][1]]
    if layout == "mpi":
        command = ["mpirun", "--bind-to", "core", "-np", "2", *command]
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    ticks = cpu_ticks()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    steal = steal_share(ticks, cpu_ticks())
    match = TOKENS.search(result.stdout)
    if result.returncode != 0 or not match:
        sys.exit(f"{' '.join(command)} failed ({result.returncode}): expected a line with 'tokens/s'\n"
                 f"{result.stdout}{result.stderr}")
    return float(match.group(1)), steal, result.stdout.strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", action="append", required=True, metavar="NAME=PATH",
                        help="an rgp binary (repeatable; the first is the baseline)")
    parser.add_argument("--data", default=os.environ.get("RGP_GLUE_DIR", "../shared/glue"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--layout", action="append", choices=list(LAYOUTS))
    parser.add_argument("--out", help="JSON file for every run (with its full output)")
    args = parser.parse_args()
    builds = []
    for spec in args.build:
        name, sep, path = spec.partition("=")
        if not sep or not os.access(path, os.X_OK):
            sys.exit(f"--build {spec}: expected NAME=PATH to an executable rgp")
        builds.append((name, path))
    layouts = args.layout or list(LAYOUTS)
    if "mpi" in layouts and shutil.which("mpirun") is None:
        print("mpirun not found: the mpi layout is skipped", file=sys.stderr)
        layouts.remove("mpi")
    ranks = {name: supports_ranks(path) for name, path in builds}

    runs, start = [], time.time()
    for round_index in range(args.rounds):
        for name, path in builds:
            for layout in layouts:
                if layout == "ranks" and not ranks[name]:
                    continue
                tokens, steal, output = run(path, layout, args)
                runs.append(dict(round=round_index, build=name, layout=layout, tokens_per_second=tokens, steal=steal,
                                 output=output))
                shown = "" if steal is None else f", steal {100 * steal:.0f}%"
                print(f"[{time.time() - start:6.0f} s] round {round_index + 1}/{args.rounds} {name} {layout}: "
                      f"{tokens:.0f} tokens/s{shown}", file=sys.stderr, flush=True)

    def values(name, layout, key="tokens_per_second"):
        return [r[key] for r in runs if (r["build"], r["layout"]) == (name, layout) and r[key] is not None]

    medians = {(n, l): statistics.median(values(n, l)) for n, _ in builds for l in layouts if values(n, l)}
    steals = [r["steal"] for r in runs if r["steal"] is not None]
    print(f"SST-2 workload (RGP, `rgp bench workload --steps {args.steps}`), CPU: {cpu_name()}; {args.rounds} "
          f"interleaved rounds, median tokens/s per build and layout.")
    if steals:
        print(f"Steal (/proc/stat, per run): median {100 * statistics.median(steals):.0f}%, largest "
              f"{100 * max(steals):.0f}%." + (" Above 5%: not a quiet machine's timings." if statistics.median(steals) > 0.05 else ""))
    print("\n| build | " + " | ".join(LAYOUTS[l][0] for l in layouts) + " |")
    print("|---|" + "---:|" * len(layouts))
    for name, _ in builds:
        cells = []
        for layout in layouts:
            v = values(name, layout)
            cells.append("—" if not v else f"{medians[(name, layout)]:.0f} ({', '.join(f'{x:.0f}' for x in v)})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    baseline = builds[0][0]
    best = {n: max((medians[(n, l)], l) for l in layouts if (n, l) in medians) for n, _ in builds}
    print()
    for name, _ in builds[1:]:
        same = [f"{LAYOUTS[l][0]} {medians[(name, l)] / medians[(baseline, l)]:.2f}×" for l in layouts
                if (name, l) in medians and (baseline, l) in medians]
        print(f"- {name} against {baseline}: best layout against best {best[name][0] / best[baseline][0]:.2f}× "
              f"({LAYOUTS[best[name][1]][0]} against {LAYOUTS[best[baseline][1]][0]}); same layout: {'; '.join(same)}.")
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out + ".tmp", "w") as f:
            json.dump({"cpu": cpu_name(), "rounds": args.rounds, "steps": args.steps, "runs": runs}, f, indent=1)
        os.replace(args.out + ".tmp", args.out)


if __name__ == "__main__":
    main()
