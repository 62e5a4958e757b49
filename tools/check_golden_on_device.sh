#!/usr/bin/env bash
# "hearth reproduces the HF reference on tiny checkpoints it has never seen":
# writes a FRESH golden fixture set (random seed unless --seed) with transformers on
# this machine (the H200 box, where torch + transformers live), replays it through the
# given hearth binary with tools/compare_golden.py, and prints one JSON summary on
# stdout (generator logs go to stderr). Exit 0 when every case matched.
#
#   tools/check_golden_on_device.sh --hearth build/bin/hearth [--device cpu] [--device cuda]
#                                   [--seed S] [--keep DIR] [--bf16 auto|on|off]
#                                   [--cases NAME...] [--ref-device cpu|cuda]
# cpu is held to the fp32 tolerance; other devices (bf16 activations) to compare_golden.py's
# bf16 policy (teacher-forced + free-running, tolerance from the bf16 rounding bound and the
# fixture's logit scale) unless --bf16 off; see the docstring of tools/compare_golden.py.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
hearth="" seed="" keep="" bf16=auto ref_device=cpu devices=() cases=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --hearth) hearth="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --device) devices+=("$2"); shift 2 ;;
    --keep) keep="$2"; shift 2 ;;
    --bf16) bf16="$2"; shift 2 ;;
    --cases) cases+=("$2"); shift 2 ;;
    --ref-device) ref_device="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ -n "$hearth" ]] || { echo "--hearth PATH is required" >&2; exit 2; }
[[ -x "$hearth" ]] || { echo "$hearth is not executable" >&2; exit 2; }
hearth="$(cd "$(dirname "$hearth")" && pwd)/$(basename "$hearth")"
[[ -n "$seed" ]] || seed=$(( $(od -An -N4 -tu4 /dev/urandom) % 1000000 + 1000 ))
[[ ${#devices[@]} -gt 0 ]] || devices=(cpu)

work="${keep:-$(mktemp -d)}"
mkdir -p "$work"
[[ -n "$keep" ]] || trap 'rm -rf "$work"' EXIT

echo "make_golden: seed $seed -> $work/fx" >&2
gen_rc=0
case_args=()
[[ ${#cases[@]} -eq 0 ]] || case_args=(--cases "${cases[@]}")
python3 "$here/make_golden.py" --out "$work/fx" --seed "$seed" --device "$ref_device" "${case_args[@]}" >&2 || gen_rc=$?
[[ -f "$work/fx/summary.json" ]] || { echo "make_golden.py failed (exit $gen_rc)" >&2; exit 1; }

dev_args=()
for d in "${devices[@]}"; do dev_args+=(--device "$d"); done
set +e
python3 "$here/compare_golden.py" --hearth "$hearth" --fixtures "$work/fx" "${dev_args[@]}" \
  --bf16 "$bf16" > "$work/compare.json"
rc=$?
set -e
python3 - "$work/compare.json" "$work/fx/summary.json" "$seed" <<'PY'
import json, sys
cmp = json.load(open(sys.argv[1]))
gen = json.load(open(sys.argv[2]))
cmp["seed"] = int(sys.argv[3])
cmp["generator"] = {k: gen[k] for k in ("torch", "transformers", "total_bytes")}
cmp["generator"]["min_margin"] = {c["case"]: c["min_margin"] for c in gen["cases"]}
cmp["generator"]["failed"] = gen["failed"]
hf = {c["case"]: c["hf_bf16_vs_fp32"] for c in gen["cases"] if "hf_bf16_vs_fp32" in c}
if hf:
    cmp["generator"]["hf_bf16_vs_fp32"] = hf
if gen["failed"]:
    cmp["passed"] = False
print(json.dumps(cmp, indent=1))
PY
[[ $gen_rc -eq 0 ]] || exit 1
exit $rc
