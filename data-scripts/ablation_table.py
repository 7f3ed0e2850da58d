"""Writes results/offline/ablations.md and ablations.svg from the records of experiments/ablations-sst2.sh.

The baseline is the offline grid's own SST-2 RGP ε = 8 cell (results/offline/runs/sst2-rgp-eps8-seed0.result.json),
used only when its settings are the ones the ablations change one thing from; a missing record is shown as pending.
Standard library only.
"""
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
RECORDS = os.path.join(ROOT, "results", "offline", "ablations")
BASELINE = os.path.join(ROOT, "results", "offline", "runs", "sst2-rgp-eps8-seed0.result.json")
VARIANTS = [
    ("baseline", None, "grid cell: carriers from W, rank 1, projection, separate Q/K/V"),
    ("history", "sst2-rgp-eps8-history", "carriers from the update history W_t − W_0 (the paper)"),
    ("rank 4", "sst2-rgp-eps8-rank4", "rank 4"),
    ("rank 8", "sst2-rgp-eps8-rank8", "rank 8"),
    ("reference sign", "sst2-rgp-eps8-reference", "ΔW = ∂L·R + L·∂R + L·Lᵀ·∂L·R (the authors' code)"),
    ("fused Q/K/V", "sst2-rgp-eps8-fused-qkv", "one carrier pair for Q, K, V stacked (the authors' code)"),
]
EXPECTED = {"task": "sst2", "method": "rgp", "epsilon": 8, "batch_size": 1000, "epochs": 1, "clip": 0.5, "lr": 0.001,
            "head": "cls", "lr_schedule": "polynomial", "seed": 0}


def load(path):
    try:
        with open(path) as f:
            record = json.load(f)
    except FileNotFoundError:
        return None
    settings = record.get("settings", {})
    if any(settings.get(k) != v for k, v in EXPECTED.items()) or not record.get("finished"):
        return None
    return record


def main():
    rows = []
    for label, name, change in VARIANTS:
        record = load(BASELINE if name is None else os.path.join(RECORDS, name + ".result.json"))
        rows.append((label, change, record))
    lines = ["# Ablations: SST-2, RGP at ε = 8 (issue 13)", "",
             "One cell each, one change at a time from the offline grid's SST-2 RGP ε = 8 cell: all-MiniLM-L6-v2, [CLS] "
             "head, polynomial schedule, B 1000, one epoch (T 67), C 0.5, lr 1e-3, seed 0, PRV, δ 1e-5 "
             "(experiments/ablations-sst2.sh; records in results/offline/ablations/). Single seeds: differences below "
             "the seed-to-seed spread of the grid's two SST-2 seeds say nothing.", "",
             "| variant | change | dev acc. (%) | predicted shares | ε spent | σ | steps | wall |",
             "|---|---|---:|---|---:|---:|---:|---:|"]
    for label, change, r in rows:
        if r is None:
            lines.append(f"| {label} | {change} | pending | | | | | |")
            continue
        shares = "/".join(f"{s:.2f}" for s in r.get("predicted_share") or [])
        lines.append(f"| {label} | {change} | {100 * r['accuracy']:.1f} | {shares} | {r.get('epsilon_spent', 0):.3f} | "
                     f"{r.get('sigma', 0):.4f} | {r.get('steps')} | {r.get('wall_seconds', 0) / 60:.0f} min |")
    with open(os.path.join(ROOT, "results", "offline", "ablations.md.tmp"), "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(os.path.join(ROOT, "results", "offline", "ablations.md.tmp"), os.path.join(ROOT, "results", "offline", "ablations.md"))
    # A horizontal bar per finished variant, 50% to 100% accuracy.
    done = [(label, 100 * r["accuracy"]) for label, _, r in rows if r is not None]
    height = 40 + 28 * max(1, len(done))
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="560" height="{height}" font-family="sans-serif" font-size="12">',
           '<text x="10" y="18">SST-2 dev accuracy (%), RGP ε = 8, one change at a time</text>']
    for i, (label, accuracy) in enumerate(done):
        y = 30 + 28 * i
        width = max(0.0, (accuracy - 50) / 50 * 380)
        svg.append(f'<text x="10" y="{y + 15}">{label}</text>')
        svg.append(f'<rect x="130" y="{y}" width="{width:.1f}" height="20" fill="#1f77b4"/>')
        svg.append(f'<text x="{135 + width:.1f}" y="{y + 15}">{accuracy:.1f}</text>')
    svg.append("</svg>")
    with open(os.path.join(ROOT, "results", "offline", "ablations.svg"), "w") as f:
        f.write("\n".join(svg) + "\n")
    print(f"results/offline/ablations.md: {len(done)} of {len(rows)} variants recorded", file=sys.stderr)


if __name__ == "__main__":
    main()
