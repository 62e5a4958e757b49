#!/usr/bin/env python3
"""Replays golden fixtures (written by tools/make_golden.py) through a hearth binary.

For every fixture folder (one holding expected.json) and every case it runs

    hearth generate --model DIR --prompt-ids a,b,c --max-tokens N --temperature 0
                    --logprobs 5 [--ignore-eos] --json --device DEV

and once per fixture a --batch-file run with all of its cases (one batch per
ignore-eos setting, since --ignore-eos is a global flag). It checks: ids equal,
finish_reason equal, every chosen-token logprob and every top-5 entry (same id,
|delta logprob| <= --tol). Prints one JSON summary on stdout; exit status 0 when
everything matched. Python 3 standard library only, so it runs anywhere.

    python3 tools/compare_golden.py --hearth build/bin/hearth \
        --fixtures tests/golden/fixtures [--device cpu --device cuda]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

TOP_K = 5


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hearth", required=True, help="path of the hearth binary")
    p.add_argument("--fixtures", required=True, help="folder of fixture folders")
    p.add_argument("--device", action="append", default=None,
                   help="hearth --device value; repeat for several (default cpu)")
    p.add_argument("--tol", type=float, default=1e-3, help="max |delta logprob|")
    p.add_argument("--timeout", type=float, default=300, help="seconds per hearth run")
    p.add_argument("--no-batch", action="store_true", help="skip the --batch-file runs")
    return p.parse_args()


def fixture_dirs(root):
    out = []
    for name in sorted(os.listdir(root)):
        d = os.path.join(root, name)
        if os.path.isfile(os.path.join(d, "expected.json")):
            out.append(d)
    return out


def run_hearth(args, cmd):
    t0 = time.time()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {args.timeout}s: {' '.join(cmd[:6])} ...", 0.0
    dt = time.time() - t0
    if p.returncode != 0:
        return None, f"exit {p.returncode}; stderr: {p.stderr.strip()[-800:]}", dt
    return p.stdout, None, dt


def compare_result(exp, got, tol, where):
    """Returns (errors, max |delta logprob|) for one case."""
    errs = []
    worst = 0.0
    if not isinstance(got, dict):
        return [f"{where}: output is not a JSON object"], worst
    if got.get("ids") != exp["ids"]:
        errs.append(f"{where}: ids {got.get('ids')} != expected {exp['ids']}")
    if got.get("finish_reason") != exp["finish_reason"]:
        errs.append(f"{where}: finish_reason {got.get('finish_reason')!r} != "
                    f"{exp['finish_reason']!r}")
    if not isinstance(got.get("text"), str):
        errs.append(f"{where}: 'text' missing or not a string")
    lps = got.get("logprobs")
    if not isinstance(lps, list) or len(lps) != len(exp["logprobs"]):
        errs.append(f"{where}: logprobs has {len(lps) if isinstance(lps, list) else 'no'} "
                    f"entries, expected {len(exp['logprobs'])}")
        return errs, worst
    for step, (e, g) in enumerate(zip(exp["logprobs"], lps)):
        at = f"{where} step {step}"
        try:
            if g["id"] != e["id"]:
                errs.append(f"{at}: id {g['id']} != {e['id']}")
            d = abs(float(g["logprob"]) - e["logprob"])
            worst = max(worst, d)
            if not d <= tol:
                errs.append(f"{at}: logprob {g['logprob']} vs {e['logprob']} (|d| {d:.3g})")
            top = g["top"]
            if len(top) != len(e["top"]):
                errs.append(f"{at}: top has {len(top)} entries, expected {len(e['top'])}")
                continue
            for k, (te, tg) in enumerate(zip(e["top"], top)):
                if int(tg[0]) != te[0]:
                    errs.append(f"{at} top[{k}]: id {tg[0]} != {te[0]}")
                d = abs(float(tg[1]) - te[1])
                worst = max(worst, d)
                if not d <= tol:
                    errs.append(f"{at} top[{k}]: logprob {tg[1]} vs {te[1]} (|d| {d:.3g})")
        except (KeyError, TypeError, ValueError, IndexError) as ex:
            errs.append(f"{at}: malformed logprobs entry {g!r} ({ex!r})")
    return errs, worst


def base_cmd(args, d, device, ignore_eos):
    cmd = [args.hearth, "generate", "--model", d, "--temperature", "0",
           "--logprobs", str(TOP_K), "--json", "--device", device]
    if ignore_eos:
        cmd.append("--ignore-eos")
    return cmd


def check_fixture(args, d, device):
    with open(os.path.join(d, "expected.json")) as f:
        expected = json.load(f)
    res = {"fixture": os.path.basename(d), "device": device, "cases": 0, "errors": [],
           "max_abs_dlogprob": 0.0, "seconds": 0.0}

    def note(errs, worst):
        res["errors"].extend(errs)
        res["max_abs_dlogprob"] = max(res["max_abs_dlogprob"], worst)

    for i, case in enumerate(expected["cases"]):
        where = f"{res['fixture']} case {i}"
        cmd = base_cmd(args, d, device, case["ignore_eos"]) + [
            "--prompt-ids", ",".join(str(t) for t in case["prompt_ids"]),
            "--max-tokens", str(case["max_tokens"])]
        out, err, dt = run_hearth(args, cmd)
        res["seconds"] += dt
        res["cases"] += 1
        if err:
            note([f"{where}: {err}"], 0.0)
            continue
        try:
            got = json.loads(out)
        except json.JSONDecodeError as ex:
            note([f"{where}: stdout is not one JSON object ({ex}): {out[:200]!r}"], 0.0)
            continue
        note(*compare_result(case, got, args.tol, where))

    if not args.no_batch:
        for ignore_eos in (True, False):
            group = [c for c in expected["cases"] if c["ignore_eos"] == ignore_eos]
            if not group:
                continue
            where = f"{res['fixture']} batch(ignore_eos={ignore_eos})"
            with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
                for c in group:
                    f.write(json.dumps({"prompt_ids": c["prompt_ids"],
                                        "max_tokens": c["max_tokens"]}) + "\n")
                batch = f.name
            try:
                out, err, dt = run_hearth(args, base_cmd(args, d, device, ignore_eos) +
                                          ["--batch-file", batch])
            finally:
                os.unlink(batch)
            res["seconds"] += dt
            if err:
                note([f"{where}: {err}"], 0.0)
                continue
            lines = [ln for ln in out.splitlines() if ln.strip()]
            if len(lines) != len(group):
                note([f"{where}: {len(lines)} output lines for {len(group)} prompts"], 0.0)
                continue
            for k, (c, ln) in enumerate(zip(group, lines)):
                try:
                    got = json.loads(ln)
                except json.JSONDecodeError as ex:
                    note([f"{where} line {k}: not JSON ({ex})"], 0.0)
                    continue
                note(*compare_result(c, got, args.tol, f"{where} line {k}"))

    res["passed"] = not res["errors"]
    res["seconds"] = round(res["seconds"], 3)
    res["errors"] = res["errors"][:20]
    return res


def main():
    args = parse_args()
    devices = args.device or ["cpu"]
    dirs = fixture_dirs(args.fixtures)
    summary = {"hearth": args.hearth, "fixtures_dir": args.fixtures, "tol": args.tol,
               "devices": devices, "results": []}
    if not os.access(args.hearth, os.X_OK):
        summary["error"] = f"{args.hearth} is not an executable file"
    elif not dirs:
        summary["error"] = f"no fixture folders with expected.json under {args.fixtures}"
    else:
        for device in devices:
            for d in dirs:
                summary["results"].append(check_fixture(args, d, device))
    results = summary["results"]
    summary["fixtures"] = len(dirs)
    summary["cases"] = sum(r["cases"] for r in results)
    summary["failed"] = [f"{r['fixture']}@{r['device']}" for r in results if not r["passed"]]
    summary["max_abs_dlogprob"] = max((r["max_abs_dlogprob"] for r in results), default=None)
    summary["passed"] = bool(results) and not summary["failed"] and "error" not in summary
    print(json.dumps(summary, indent=1))
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
