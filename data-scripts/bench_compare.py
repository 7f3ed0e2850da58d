"""`make bench-compare`: our step and PyTorch's, side by side on this machine in one session.

Each figure is its own process (so peak RSS is per method), ours and PyTorch's interleaved (ours, theirs, ours, …)
over `--rounds` rounds so that a change in machine load hits both sides; the median over rounds is reported, with both
sides' sgemm peaks from the same rounds. Prints a Markdown table and writes every raw figure as JSON.

    ../torch-venv/bin/python data-scripts/bench_compare.py --rgp .build/release/rgp --out results/bench/compare.json
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

METHODS = ["forward", "full", "rgp", "dpsgd"]


def cpu_ticks():
    """The machine's CPU time so far as (stolen, total) ticks from /proc/stat, or None off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal [guest guest_nice, already inside user and nice]
    return fields[7] if len(fields) > 7 else 0, sum(fields[:8])


def steal_share(before, after):
    """The share of the machine's CPU time a hypervisor gave to other guests between two `cpu_ticks` readings: time
    neither side of a comparison ran, which makes its timings slower and noisier (read, not corrected for)."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


def run_json(command):
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def ours(rgp, shape, method, repetitions, step_args=(), forward_args=()):
    if method == "forward":
        command = [rgp, "bench", "forward", "--shape", shape, "--json", "--repetitions", str(repetitions), *forward_args]
    else:
        command = [rgp, "bench", "step", "--shape", shape, "--method", method, "--json", "--repetitions", str(repetitions),
                   *step_args]
    (record,) = run_json(command)
    return record


def theirs(python, shape, method, repetitions):
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_reference.py")
    (report,) = run_json([python, script, "--shape", shape, "--method", method, "--repetitions", str(repetitions)])
    (result,) = report["results"]
    return dict(result, side="pytorch", sgemm_peak_gflops=report["sgemm_peak_gflops"], cpu=report["cpu"],
                blas=f"torch {report['torch']} (MKL {report['mkl']}, {report['blas']})", threads=report["threads"])


def cpu_name():
    name = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    flags = next((l for l in open("/proc/cpuinfo") if l.startswith("flags")), "")
    family = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model\t")), "?")
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "SSE"
    return f"{name} (model {family}, {isa}, {os.cpu_count()} cores)"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rgp", default=".build/release/rgp")
    parser.add_argument("--python", default=sys.executable, help="a Python with torch, transformers, opacus")
    parser.add_argument("--shape", action="append", choices=["minilm", "bert-base"])
    parser.add_argument("--method", action="append", choices=METHODS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--out", help="JSON file for every raw figure")
    parser.add_argument("--rgp-step-args", default="", help="extra options of our training steps, e.g. '--ranks 2 --threads 1'")
    parser.add_argument("--rgp-forward-args", default="", help="extra options of our forward, e.g. '--ranks 2'")
    parser.add_argument("--memory-out", help="Markdown file for the peak-RSS table alone (results/memory.md)")
    args = parser.parse_args()
    shapes, methods = args.shape or ["minilm"], args.method or METHODS
    raw = []
    start = time.time()
    for round_index in range(args.rounds):
        for shape in shapes:
            for method in methods:
                for side, measure in (("rgp", lambda: ours(args.rgp, shape, method, args.repetitions, args.rgp_step_args.split(), args.rgp_forward_args.split())),
                                      ("pytorch", lambda: theirs(args.python, shape, method, args.repetitions))):
                    ticks = cpu_ticks()
                    record = dict(measure(), round=round_index, shape=shape, method=method)
                    record["steal"] = steal_share(ticks, cpu_ticks())
                    raw.append(record)
                    steal = "" if record["steal"] is None else f", steal {100 * record['steal']:.0f}%"
                    print(f"[{time.time() - start:6.0f} s] round {round_index + 1}/{args.rounds} {shape} {method} "
                          f"{side}: {record['seconds']:.3f} s (sgemm peak {record['sgemm_peak_gflops']:.0f} GFLOP/s{steal})",
                          file=sys.stderr, flush=True)

    def median(side, shape, method, key):
        return statistics.median(r[key] for r in raw if (r["side"], r["shape"], r["method"]) == (side, shape, method))

    def peaks(side):
        return statistics.median(r["sgemm_peak_gflops"] for r in raw if r["side"] == side)

    def round_ratios(shape, method):
        pairs = {}
        for r in raw:
            if (r["shape"], r["method"]) == (shape, method):
                pairs.setdefault(r["round"], {})[r["side"]] = r["seconds"]
        return [p["rgp"] / p["pytorch"] for p in pairs.values() if len(p) == 2]

    blas = {side: next(r["blas"] for r in raw if r["side"] == side) for side in ("rgp", "pytorch")}
    steals = [r["steal"] for r in raw if r.get("steal") is not None]
    print(f"CPU: {cpu_name()}; {args.rounds} interleaved rounds, median of {args.repetitions} steps each, "
          f"batch 32 × 128, 2 threads each side" + (f"; our steps with {args.rgp_step_args}" if args.rgp_step_args else "") + (f"; our forward with {args.rgp_forward_args}" if args.rgp_forward_args else "") + ".")
    print(f"Ours: {blas['rgp']}, sgemm peak {peaks('rgp'):.0f} GFLOP/s. "
          f"PyTorch: {blas['pytorch']}, sgemm peak {peaks('pytorch'):.0f} GFLOP/s.")
    if steals:
        print(f"Steal (CPU time the hypervisor gave other guests, /proc/stat, per measurement): median "
              f"{100 * statistics.median(steals):.0f}%, largest {100 * max(steals):.0f}%."
              + (" Above 5%: these timings are not a quiet machine's; set them beside no other run's." if statistics.median(steals) > 0.05 else ""))
    print("\n| shape | figure | ours (s) | PyTorch (s) | ours / PyTorch | rounds' ratios | ours GFLOP/s (of peak) | RSS ours / PyTorch (MB) |")
    print("|---|---|---:|---:|---:|---|---:|---:|")
    reference_name = {"forward": "forward", "full": "non-private full step", "rgp": "RGP rank-1 step",
                      "dpsgd": "DP-SGD step (Opacus ghost)"}
    for shape in shapes:
        for method in methods:
            a, b = median("rgp", shape, method, "seconds"), median("pytorch", shape, method, "seconds")
            flops = median("rgp", shape, method, "gflops")
            ratios = ", ".join(f"{x:.2f}" for x in round_ratios(shape, method))
            print(f"| {shape} | {reference_name[method]} | {a:.3f} | {b:.3f} | {a / b:.2f} | {ratios} | "
                  f"{flops:.0f} ({flops / peaks('rgp'):.2f}) | {median('rgp', shape, method, 'peak_rss_mb'):.0f} / "
                  f"{median('pytorch', shape, method, 'peak_rss_mb'):.0f} |")
    if args.memory_out:
        lines = [f"# Peak resident memory per method (issue 13's memory table)", "",
                 f"`data-scripts/bench_compare.py` (make bench-compare), CPU: {cpu_name()}; each figure its own process, "
                 f"batch 32 × 128, random weights, median over {args.rounds} round(s). Ours: {blas['rgp']}; "
                 f"PyTorch: {blas['pytorch']}.", "",
                 "| shape | method | ours (MB) | PyTorch (MB) | ours / PyTorch |", "|---|---|---:|---:|---:|"]
        for shape in shapes:
            for method in methods:
                a = median("rgp", shape, method, "peak_rss_mb")
                b = median("pytorch", shape, method, "peak_rss_mb")
                lines.append(f"| {shape} | {reference_name[method]} | {a:.0f} | {b:.0f} | {a / b:.2f} |")
        with open(args.memory_out + ".tmp", "w") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(args.memory_out + ".tmp", args.memory_out)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out + ".tmp", "w") as f:
            json.dump({"cpu": cpu_name(), "rounds": args.rounds, "figures": raw}, f, indent=1)
        os.replace(args.out + ".tmp", args.out)


if __name__ == "__main__":
    main()
