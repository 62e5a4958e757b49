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

The device "cpu" computes in fp32 like the reference and gets the strict check above
(--tol 1e-3, every id equal). Other devices ("cuda") keep activations in bf16, so by
default (--bf16 auto) they get the bf16 policy instead (--bf16 on/off forces it):

  Bound. bf16 has 8 significant bits: relative spacing u = 2^-8, so one round-to-nearest
  is off by at most u/2 relative. A fixture's logits are z_j = sum_i gamma_i xhat_i W_ji
  (xhat: the final hidden state after RMSNorm, rms 1), whose spread over j is
  sigma_z = ||gamma||_2 * rms(W) (final norm weight gamma, lm_head or tied embedding W;
  read from the fixture's safetensors: ~8 * 0.5 = 4 for these fixtures). A rounding
  anywhere on the residual path moves the logits by at most (u/2) * sigma_z (RMSNorm
  brings every layer back to unit scale); the path has n_r = 8 * layers + 2 bf16
  roundings (embedding; per layer: normed input, q|k|v, attention output, o_proj,
  residual add, normed input, SwiGLU, down + residual; final norm), doubled when the
  checkpoint is F32/F16 (its weights are rounded to bf16 on upload). With independent
  signs the logit error is ~ (u/2) * sqrt(n_r) * sigma_z; we allow k = 4 times that:
      tol_z  = 4 * (u/2) * sqrt(n_r) * sigma_z              (max |delta logit|)
      tol_lp = 2 * tol_z     (|d logprob_j| <= |d z_j| + max_k |d z_k|)
  (the rms of a rounding error is u/sqrt(12) = 0.58 * u/2, so k = 4 is ~7 standard
  deviations of that model). For a 2-layer bf16 fixture: n_r = 18, tol_z ~ 0.13,
  tol_lp ~ 0.27 (the first CUDA run, without this policy, saw |d logprob| <= 0.2).
  Greedy ids: a flip needs d(z1 - z2) > margin and |d(z1 - z2)| <= 2 * tol_z, so ids
  must agree wherever HF's top1 - top2 margin exceeds flip = 2 * tol_z; below that a
  divergence is a near tie, allowed.
  Checks. (1) Teacher-forced: one --batch-file run per fixture with every prefix
  prompt + HF ids[:k] (max 1 token, --ignore-eos); step k's logprobs against HF's step k
  (|d| <= tol_lp for ids present in both top-5 lists; an HF top-5 id missing from
  hearth's only within 2 * tol_z of HF's 5th entry; the greedy id equal where the margin
  exceeds flip). One early near tie therefore cannot cascade into later steps.
  (2) Free-running (the generate and --batch-file runs above): the same per-step rules
  up to the first step where the ids differ, which must be a near tie (margin <= flip);
  finish_reason is compared only when no step diverged.
"""

import argparse
import json
import math
import os
import struct
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
    p.add_argument("--bf16", choices=("auto", "on", "off"), default="auto",
                   help="bf16 policy (see above); auto: on for every device but cpu")
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


# ---- bf16 policy (devices with bf16 activations; see the module docstring) ----

BF16_U = 2.0 ** -8   # relative spacing of bf16 (8 significant bits)
BF16_K = 4.0         # allowance in units of the random-sign estimate


def read_safetensors(d, wanted):
    """{name: [floats]} for the tensors in `wanted` (standard library: F32, F16, BF16)."""
    out = {}
    for name in sorted(os.listdir(d)):
        if not name.endswith(".safetensors"):
            continue
        with open(os.path.join(d, name), "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n))
            base = 8 + n
            for key, info in header.items():
                if key not in wanted or key == "__metadata__":
                    continue
                a, b = info["data_offsets"]
                f.seek(base + a)
                raw = f.read(b - a)
                dt = info["dtype"]
                if dt == "F32":
                    vals = struct.unpack(f"<{len(raw) // 4}f", raw)
                elif dt == "F16":
                    vals = struct.unpack(f"<{len(raw) // 2}e", raw)
                elif dt == "BF16":
                    hs = struct.unpack(f"<{len(raw) // 2}H", raw)
                    vals = struct.unpack(f"<{len(hs)}f", struct.pack(f"<{len(hs)}I",
                                                                    *(h << 16 for h in hs)))
                else:
                    raise ValueError(f"{name}: {key} has dtype {dt}")
                out[key] = vals
    return out


def bf16_bound(d):
    """The fixture's tolerances under the bf16 policy (module docstring)."""
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    layers = int(cfg["num_hidden_layers"])
    dtype = cfg.get("dtype") or cfg.get("torch_dtype") or "bfloat16"
    tied = bool(cfg.get("tie_word_embeddings", False))
    w_name = "model.embed_tokens.weight" if tied else "lm_head.weight"
    t = read_safetensors(d, {"model.norm.weight", w_name})
    if "model.norm.weight" not in t or w_name not in t:
        raise ValueError(f"{d}: model.norm.weight or {w_name} not found")
    gamma = t["model.norm.weight"]
    w = t[w_name]
    sigma_z = math.sqrt(sum(g * g for g in gamma)) * math.sqrt(sum(v * v for v in w) / len(w))
    n_r = 8 * layers + 2
    if dtype != "bfloat16":
        n_r *= 2
    tol_z = BF16_K * (BF16_U / 2) * math.sqrt(n_r) * sigma_z
    return {"sigma_z": round(sigma_z, 4), "n_r": n_r, "tol_z": round(tol_z, 4),
            "tol_lp": round(2 * tol_z, 4), "flip": round(2 * tol_z, 4)}


def bf16_step(e, g, bound, at):
    """Compares one step's logprobs entry (HF e, hearth g) under the bf16 policy.
    Returns (errors, max |d logprob|, ids_differ, near_tie)."""
    errs = []
    worst = 0.0
    tol, flip = bound["tol_lp"], bound["flip"]
    margin = e["top"][0][1] - e["top"][1][1] if len(e["top"]) > 1 else float("inf")
    near_tie = margin <= flip
    try:
        differ = int(g["id"]) != e["id"]
        if differ and not near_tie:
            errs.append(f"{at}: id {g['id']} != {e['id']} at HF margin {margin:.3g} > {flip:.3g}")
        if not differ:
            d = abs(float(g["logprob"]) - e["logprob"])
            worst = max(worst, d)
            if not d <= tol:
                errs.append(f"{at}: logprob {g['logprob']} vs {e['logprob']} (|d| {d:.3g} > {tol:.3g})")
        mine = {int(t[0]): float(t[1]) for t in g["top"]}
        cut = e["top"][-1][1]
        for te in e["top"]:
            if te[0] in mine:
                d = abs(mine[te[0]] - te[1])
                worst = max(worst, d)
                if not d <= tol:
                    errs.append(f"{at} top id {te[0]}: logprob {mine[te[0]]} vs {te[1]} "
                                f"(|d| {d:.3g} > {tol:.3g})")
            elif te[1] - cut > bound["flip"]:
                errs.append(f"{at} top id {te[0]} ({te[1]}) missing from hearth's top-5, "
                            f"{te[1] - cut:.3g} above HF's 5th entry")
    except (KeyError, TypeError, ValueError, IndexError) as ex:
        return [f"{at}: malformed logprobs entry {g!r} ({ex!r})"], worst, True, near_tie
    return errs, worst, differ, near_tie


def compare_result_bf16(exp, got, bound, where, stats):
    """Free-running comparison under the bf16 policy: up to the first divergence."""
    if not isinstance(got, dict):
        return [f"{where}: output is not a JSON object"], 0.0
    lps = got.get("logprobs")
    if not isinstance(lps, list):
        return [f"{where}: logprobs missing"], 0.0
    errs = []
    worst = 0.0
    diverged = False
    for step, e in enumerate(exp["logprobs"]):
        if step >= len(lps):
            errs.append(f"{where}: {len(lps)} steps, expected {len(exp['logprobs'])}")
            break
        es, w, differ, near_tie = bf16_step(e, lps[step], bound, f"{where} step {step}")
        errs.extend(es)
        worst = max(worst, w)
        if differ:
            diverged = True
            if near_tie:
                stats["diverged_at_near_tie"] += 1
            break
    if not diverged:
        if len(lps) != len(exp["logprobs"]):
            errs.append(f"{where}: logprobs has {len(lps)} entries, expected {len(exp['logprobs'])}")
        if got.get("ids") != exp["ids"]:
            errs.append(f"{where}: ids {got.get('ids')} != expected {exp['ids']}")
        if got.get("finish_reason") != exp["finish_reason"]:
            errs.append(f"{where}: finish_reason {got.get('finish_reason')!r} != "
                        f"{exp['finish_reason']!r}")
    return errs, worst


def teacher_forced(args, d, device, expected, bound, note, res):
    """One --batch-file run with every prefix prompt + HF ids[:k]; step k against HF's."""
    lines, refs = [], []
    for i, c in enumerate(expected["cases"]):
        for k, e in enumerate(c["logprobs"]):
            lines.append({"prompt_ids": c["prompt_ids"] + c["ids"][:k], "max_tokens": 1})
            refs.append((i, k, e))
    where = f"{res['fixture']} teacher-forced"
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for ln in lines:
            f.write(json.dumps(ln) + "\n")
        batch = f.name
    try:
        out, err, dt = run_hearth(args, base_cmd(args, d, device, True) + ["--batch-file", batch])
    finally:
        os.unlink(batch)
    res["seconds"] += dt
    tf = {"steps": len(refs), "max_abs_dlogprob": 0.0, "near_ties": 0, "near_tie_flips": 0}
    res["teacher_forced"] = tf
    if err:
        note([f"{where}: {err}"], 0.0)
        return
    outs = [ln for ln in out.splitlines() if ln.strip()]
    if len(outs) != len(refs):
        note([f"{where}: {len(outs)} output lines for {len(refs)} prefixes"], 0.0)
        return
    for (i, k, e), ln in zip(refs, outs):
        at = f"{where} case {i} step {k}"
        try:
            got = json.loads(ln)
            g = got["logprobs"][0]
        except (json.JSONDecodeError, KeyError, TypeError, IndexError) as ex:
            note([f"{at}: no logprobs ({ex!r})"], 0.0)
            continue
        es, w, differ, near_tie = bf16_step(e, g, bound, at)
        tf["max_abs_dlogprob"] = max(tf["max_abs_dlogprob"], w)
        tf["near_ties"] += near_tie
        tf["near_tie_flips"] += differ and near_tie
        note(es, w)


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

    compare = compare_result
    tol = args.tol
    if args.bf16 == "on" or (args.bf16 == "auto" and device != "cpu"):
        try:
            bound = bf16_bound(d)
        except (OSError, ValueError, KeyError, struct.error) as ex:
            note([f"{res['fixture']}: bf16 bound: {ex}"], 0.0)
            res["passed"] = False
            return res
        stats = {"diverged_at_near_tie": 0}
        res["policy"] = "bf16"
        res["bound"] = bound
        res["free_running"] = stats
        tol = bound
        compare = lambda e, g, b, w: compare_result_bf16(e, g, b, w, stats)  # noqa: E731
        teacher_forced(args, d, device, expected, bound, note, res)

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
        note(*compare(case, got, tol, where))

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
                note(*compare(c, got, tol, f"{where} line {k}"))

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
