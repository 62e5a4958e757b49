#!/usr/bin/env python3
"""GPU idle time between steps from an nsys profile (sqlite export of `nsys stats`/`nsys export`).

Usage: nsys_gaps.py PROFILE.sqlite [--min-gap-us 5]

Merges every kernel and memcpy/memset interval on the GPU into busy spans and prints JSON:
the profiled span (first to last activity), busy and idle time, and the idle gaps longer than
--min-gap-us (count, total, p50/p90/max) -- the gaps between engine steps are the long ones
(one per step), the short ones are launch gaps inside eager steps.
"""
import argparse
import json
import sqlite3


def intervals(db):
    out = []
    for table in ("CUPTI_ACTIVITY_KIND_KERNEL", "CUPTI_ACTIVITY_KIND_MEMCPY", "CUPTI_ACTIVITY_KIND_MEMSET",
                  "CUPTI_ACTIVITY_KIND_GRAPH_TRACE"):
        try:
            out += db.execute(f"SELECT start, end FROM {table}").fetchall()
        except sqlite3.OperationalError:
            pass  # table absent: no such activity
    return sorted(out)


def pct(v, p):
    if not v:
        return 0.0
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sqlite")
    ap.add_argument("--min-gap-us", type=float, default=5.0)
    a = ap.parse_args()
    db = sqlite3.connect(a.sqlite)
    iv = intervals(db)
    if not iv:
        print(json.dumps({"error": "no GPU activity in the profile"}))
        return
    busy = 0
    gaps = []
    cur_s, cur_e = iv[0]
    for s, e in iv[1:]:
        if s > cur_e:
            busy += cur_e - cur_s
            gaps.append((s - cur_e) / 1e3)  # ns -> us
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    busy += cur_e - cur_s
    span = iv[-1][1] - iv[0][0]
    long_gaps = [g for g in gaps if g >= a.min_gap_us]
    print(json.dumps({
        "span_ms": span / 1e6,
        "busy_ms": busy / 1e6,
        "idle_ms": (span - busy) / 1e6,
        "idle_fraction": (span - busy) / span if span else 0.0,
        "gaps_over_min": {"min_gap_us": a.min_gap_us, "count": len(long_gaps), "total_ms": sum(long_gaps) / 1e3,
                          "p50_us": pct(long_gaps, 50), "p90_us": pct(long_gaps, 90),
                          "max_us": max(long_gaps) if long_gaps else 0.0},
        "gaps_all": {"count": len(gaps), "total_ms": sum(gaps) / 1e3},
    }, indent=1))


if __name__ == "__main__":
    main()
