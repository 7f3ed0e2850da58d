#!/usr/bin/env python3
"""Largest relative difference between two runs' parameters (model/model.safetensors; standard library only).

    compare_parameters.py RUN_A RUN_B [--tolerance T]     exit 1 when the difference exceeds T (default 1e-6)

Per tensor: max |a − b| / max |a|; the report names the worst tensor. Also compares ε spent and examples seen, which
must be equal: the privacy a run claims cannot depend on how many processes ran it.
"""
import json
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data-scripts"))
from convert_checkpoint import read_safetensors  # noqa: E402  (the project's one safetensors reader)


def read(path):
    """name → float32 values (the runs' exported models are F32)."""
    return {name: struct.unpack(f"<{len(raw) // 4}f", raw) for name, (_, _, raw) in read_safetensors(path).items()}


def main():
    args = sys.argv[1:]
    tolerance = 1e-6
    if "--tolerance" in args:
        i = args.index("--tolerance")
        tolerance = float(args[i + 1])
        del args[i:i + 2]
    a_dir, b_dir = args
    a, b = read(a_dir + "/model/model.safetensors"), read(b_dir + "/model/model.safetensors")
    if sorted(a) != sorted(b):
        sys.exit(f"tensor names differ: {sorted(set(a) ^ set(b))}")
    worst, where = 0.0, None
    for name in a:
        scale = max(max(abs(x) for x in a[name]), 1e-12)
        error = max(abs(x - y) for x, y in zip(a[name], b[name])) / scale
        if error > worst:
            worst, where = error, name
    ra, rb = (json.load(open(d + "/result.json")) for d in (a_dir, b_dir))
    same_privacy = ra.get("epsilon_spent") == rb.get("epsilon_spent") and ra["examples_seen"] == rb["examples_seen"] \
        and ra["steps"] == rb["steps"]
    print(f"max relative difference {worst:.3g} ({where}) over {len(a)} tensors; ε spent {ra.get('epsilon_spent')} / "
          f"{rb.get('epsilon_spent')}, examples {ra['examples_seen']} / {rb['examples_seen']}, steps {ra['steps']} / {rb['steps']}")
    if worst > tolerance or not same_privacy:
        sys.exit(f"FAILED: tolerance {tolerance}, same ε/examples/steps: {same_privacy}")


if __name__ == "__main__":
    main()
