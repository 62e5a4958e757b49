#!/usr/bin/env python3
"""HF `tokenizers` peer for `hearth bench tokenizer`: load time and one-thread encode /
decode MB/s on the same sample files. Prints one JSON object.

  python3 bench/hf_tokenizer.py --model DIR --text-file prose.txt --text-file code.txt
"""
import argparse
import json
import os
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAYON_NUM_THREADS", "1")
from tokenizers import Tokenizer  # noqa: E402


def best_of(n, fn):
    best = float("inf")
    for _ in range(n):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--text-file", action="append", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    t = time.perf_counter()
    tok = Tokenizer.from_file(os.path.join(a.model, "tokenizer.json"))
    load_ms = (time.perf_counter() - t) * 1000.0
    out = {"bench": "tokenizer", "peer": "hf-tokenizers", "load_ms": load_ms, "samples": []}
    for path in a.text_file:
        text = open(path, encoding="utf-8").read()
        mb = len(text.encode("utf-8")) / 1e6
        ids = tok.encode(text, add_special_tokens=False).ids
        enc = best_of(a.repeat, lambda: tok.encode(text, add_special_tokens=False))
        dec = best_of(a.repeat, lambda: tok.decode(ids, skip_special_tokens=False))
        out["samples"].append({"file": os.path.basename(path), "bytes": int(mb * 1e6), "tokens": len(ids),
                               "encode_mb_s": mb / enc, "decode_mb_s": mb / dec})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
