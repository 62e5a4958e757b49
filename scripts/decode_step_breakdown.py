#!/usr/bin/env python3
"""Per-step kernel breakdown of a serving engine's decode steps from an ncu CSV.

Input: the CSV that `ncu --csv --print-units base --print-kernel-base function --log-file F
--metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum ...` writes
(the "details" page: one row per kernel and metric). scripts/profile_decode_step.sh runs it.

A step starts at the embedding (copy_rows_kernel, the first node of a decode step graph);
only steps with both ends in the window count, and of those only the ones whose kernel
sequence equals the most common one (the decode steps of one graph); without a complete
step, per-layer rows only (attention kernel to attention kernel). Prints, per kernel
(name + grid), calls per step, time per call, time per step, DRAM bytes per call and the
time those bytes take at the copy bandwidth (--copy-gbps, 4,250 GB/s on the H200), and a
summary by kind (GEMM, attention, norm, ...). ncu serializes kernels: the times are
without overlap and without launch gaps.

    decode_step_breakdown.py ncu.csv [--copy-gbps 4250] [--json out.json]
"""
import argparse
import collections
import csv
import json
import sys

TIME_UNITS = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3,
              "second": 1e6, "s": 1e6}
BYTE_UNITS = {"byte": 1.0, "kbyte": 1e3, "mbyte": 1e6, "gbyte": 1e9, "tbyte": 1e12,
              "kibyte": 1024.0, "mibyte": 1024.0 ** 2, "gibyte": 1024.0 ** 3}


def number(text):
    text = text.strip().replace(",", "")
    try:
        return float(text)
    except ValueError:
        return float("nan")


def read_kernels(path):
    """[(id, name, grid, block, {metric: value in us or bytes})] in launch order."""
    with open(path, newline="", errors="replace") as f:
        lines = f.readlines()
    start = next((i for i, l in enumerate(lines) if l.startswith('"ID"')), None)
    if start is None:
        sys.exit(f"{path}: no CSV header (ncu output:\n{''.join(lines[:20])})")
    kernels = collections.OrderedDict()
    for row in csv.DictReader(lines[start:]):
        if not row.get("ID", "").strip().isdigit():
            continue
        kid = int(row["ID"])
        k = kernels.setdefault(kid, {"name": row["Kernel Name"], "grid": row.get("Grid Size", ""),
                                     "block": row.get("Block Size", ""), "m": {}})
        unit = row.get("Metric Unit", "").strip().lower()
        value = number(row.get("Metric Value", ""))
        if unit in TIME_UNITS:
            value *= TIME_UNITS[unit]
        elif unit in BYTE_UNITS:
            value *= BYTE_UNITS[unit]
        k["m"][row["Metric Name"]] = value
    return [(kid, k["name"], k["grid"], k["block"], k["m"]) for kid, k in sorted(kernels.items())]


def kind_of(name):
    n = name.lower()
    if "copy_rows" in n:
        return "embedding"
    if "decode_mma" in n or "decode_attention" in n or "combine" in n:
        return "attention"
    if "rms_norm" in n or "qk_norm" in n:
        return "norm"
    if "swiglu" in n:
        return "swiglu"
    if "mma_gemv" in n or "gemv" in n:
        return "gemm (hearth)"
    if any(s in n for s in ("gemm", "nvjet", "xmma", "cutlass", "splitk", "reduce")):
        return "gemm (cuBLASLt)"
    if any(s in n for s in ("greedy", "argmax", "topk", "prep_kernel", "max_kernel", "level_kernel",
                            "draw_", "sample", "logsumexp", "pick")):
        return "sampling"
    return "other"


def short(name, width=60):
    return name if len(name) <= width else name[: width - 3] + "..."


def layer_table(ks, bw):
    """Per-layer rows (attention kernel to attention kernel), in launch order."""
    att = [i for i, k in enumerate(ks) if kind_of(k[1]) == "attention"]
    layers = [ks[s:e] for s, e in zip(att, att[1:])]
    print(f"\n{len(layers)} layers between attention kernels\n")
    if not layers:
        return
    tm = "gpu__time_duration.sum"
    sig = collections.Counter(tuple((k[1], k[2]) for k in l) for l in layers).most_common(1)[0][0]
    used = [l for l in layers if tuple((k[1], k[2]) for k in l) == sig]
    print(f"{len(used)} layers of {len(sig)} kernels; mean per position in launch order:\n")
    print("| # | kernel | grid | us | DRAM MB | ideal us | % of copy |\n| --- | --- | --- | --- | --- | --- | --- |")
    total = ideal = 0.0
    for i, (name, grid) in enumerate(sig):
        us = sum(l[i][4].get(tm, 0.0) for l in used) / len(used)
        by = sum(l[i][4].get("dram__bytes_read.sum", 0.0) + l[i][4].get("dram__bytes_write.sum", 0.0)
                 for l in used) / len(used)
        total += us
        ideal += by / bw
        print(f"| {i} | {short(name)} | {grid} | {us:.1f} | {by / 1e6:.2f} | {by / bw:.1f} | "
              f"{100 * by / bw / us:.0f} % |")
    print(f"\nlayer: {total:.1f} us (ideal {ideal:.1f} us, {100 * ideal / total:.0f} %)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--copy-gbps", type=float, default=4250.0)
    ap.add_argument("--json")
    ap.add_argument("--title", default="")
    a = ap.parse_args()
    ks = read_kernels(a.csv)
    bw = a.copy_gbps * 1e3  # bytes per us
    starts = [i for i, k in enumerate(ks) if kind_of(k[1]) == "embedding"]
    steps = [ks[s:e] for s, e in zip(starts, starts[1:])]
    print(f"# {a.title}\n\n{len(ks)} kernels profiled, {len(starts)} step starts, "
          f"{len(steps)} complete steps")
    if not steps:
        layer_table(ks, bw)
        return
    sigs = collections.Counter(tuple((k[1], k[2]) for k in s) for s in steps)
    sig, nsig = sigs.most_common(1)[0]
    used = [s for s in steps if tuple((k[1], k[2]) for k in s) == sig]
    print(f"step shapes: {[ (len(s), n) for s, n in sigs.most_common()]}; using {nsig} steps of "
          f"{len(sig)} kernels\n")

    tm = "gpu__time_duration.sum"
    per = collections.OrderedDict()  # (name, grid) -> list of (us, bytes)
    for s in used:
        for k in s:
            b = k[4].get("dram__bytes_read.sum", 0.0) + k[4].get("dram__bytes_write.sum", 0.0)
            per.setdefault((k[1], k[2]), []).append((k[4].get(tm, float("nan")), b))
    nsteps = len(used)
    rows = []
    for (name, grid), v in per.items():
        calls = len(v) / nsteps
        us = sum(x[0] for x in v) / len(v)
        by = sum(x[1] for x in v) / len(v)
        rows.append({"kernel": name, "grid": grid, "kind": kind_of(name), "calls_per_step": calls,
                     "us_per_call": us, "us_per_step": us * calls, "dram_bytes_per_call": by,
                     "ideal_us_per_call": by / bw, "pct_of_copy": 100.0 * (by / bw) / us if us > 0 else 0})
    rows.sort(key=lambda r: -r["us_per_step"])
    step_us = sum(r["us_per_step"] for r in rows)
    ideal_us = sum(r["ideal_us_per_call"] * r["calls_per_step"] for r in rows)
    print(f"kernel time per step (serialized): {step_us / 1e3:.3f} ms; its DRAM bytes at "
          f"{a.copy_gbps:.0f} GB/s: {ideal_us / 1e3:.3f} ms ({100 * ideal_us / step_us:.0f} %)\n")
    print("| kernel | grid | calls/step | us/call | us/step | share | DRAM MB/call | ideal us | % of copy |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {short(r['kernel'])} | {r['grid']} | {r['calls_per_step']:.0f} | {r['us_per_call']:.1f} | "
              f"{r['us_per_step']:.0f} | {100 * r['us_per_step'] / step_us:.1f} % | "
              f"{r['dram_bytes_per_call'] / 1e6:.2f} | {r['ideal_us_per_call']:.1f} | {r['pct_of_copy']:.0f} % |")
    kinds = collections.OrderedDict()
    for r in rows:
        kk = kinds.setdefault(r["kind"], [0.0, 0.0, 0])
        kk[0] += r["us_per_step"]
        kk[1] += r["ideal_us_per_call"] * r["calls_per_step"]
        kk[2] += r["calls_per_step"]
    print("\n| kind | launches/step | ms/step | ideal ms | % of copy |\n| --- | --- | --- | --- | --- |")
    for name, (us, ideal, n) in sorted(kinds.items(), key=lambda x: -x[1][0]):
        print(f"| {name} | {n:.0f} | {us / 1e3:.3f} | {ideal / 1e3:.3f} | {100 * ideal / us:.0f} % |")
    # One layer in launch order (between the 2nd and 3rd attention kernels), and the step's
    # head and tail, to map GEMM launches to projections.
    s0 = used[0]
    att = [i for i, k in enumerate(s0) if kind_of(k[1]) == "attention"]
    print("\nOne step in launch order (head, one layer, tail): us, DRAM MB")
    show = list(range(0, min(len(s0), att[0] + 1 if att else 12)))
    if len(att) >= 3:
        show += list(range(att[1] + 1, att[2] + 1))
    show += list(range(max(0, len(s0) - 10), len(s0)))
    last = -1
    for i in show:
        if i <= last:
            continue
        if i != last + 1:
            print("  ...")
        k = s0[i]
        b = k[4].get("dram__bytes_read.sum", 0.0) + k[4].get("dram__bytes_write.sum", 0.0)
        print(f"  {i:4d} {k[4].get(tm, float('nan')):8.1f} {b / 1e6:8.2f}  {short(k[1], 90)} {k[2]}")
        last = i
    layer_table(ks, bw)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"title": a.title, "steps": nsteps, "kernels_per_step": len(sig),
                       "step_kernel_ms": step_us / 1e3, "step_ideal_ms": ideal_us / 1e3, "rows": rows,
                       "kinds": {k: {"ms": v[0] / 1e3, "ideal_ms": v[1] / 1e3, "launches": v[2]}
                                 for k, v in kinds.items()}}, f, indent=1)


if __name__ == "__main__":
    main()
