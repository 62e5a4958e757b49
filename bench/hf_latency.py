#!/usr/bin/env python3
"""HF transformers peer for `hearth bench latency`: the same Qwen3 shape, random bf16
weights, batch 1, on the GPU. Prints one JSON object with the same key names.

Run on the GPU machine (torch + transformers installed), in the same command as hearth's
bench, e.g.  python3 bench/hf_latency.py --preset qwen3-8b --prompt-len 2048 --gen-len 128
"""
import argparse
import json
import time

import torch
from transformers import Qwen3Config, Qwen3ForCausalLM

PRESETS = {  # hidden, intermediate, layers, heads, kv heads, tied
    "qwen3-0.6b": (1024, 3072, 28, 16, 8, True),
    "qwen3-1.7b": (2048, 6144, 28, 16, 8, True),
    "qwen3-4b": (2560, 9728, 36, 32, 8, True),
    "qwen3-8b": (4096, 12288, 36, 32, 8, False),
    "qwen3-14b": (5120, 17408, 40, 40, 8, False),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="qwen3-8b", choices=sorted(PRESETS))
    ap.add_argument("--prompt-len", type=int, default=512)
    ap.add_argument("--gen-len", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    h, i, l, nh, kv, tied = PRESETS[a.preset]
    cfg = Qwen3Config(vocab_size=151936, hidden_size=h, intermediate_size=i, num_hidden_layers=l,
                      num_attention_heads=nh, num_key_value_heads=kv, head_dim=128,
                      max_position_embeddings=40960, tie_word_embeddings=tied, rope_theta=1e6)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        model = Qwen3ForCausalLM(cfg).eval()
    torch.cuda.synchronize()
    load_s = time.perf_counter() - t0
    ids = torch.randint(0, cfg.vocab_size, (1, a.prompt_len), device="cuda")

    def timed(fn):
        torch.cuda.synchronize()
        t = time.perf_counter()
        out = fn()
        torch.cuda.synchronize()
        return (time.perf_counter() - t) * 1000.0, out

    with torch.inference_mode():
        timed(lambda: model(ids))  # warm-up
        prefill = sorted(timed(lambda: model(ids))[0] for _ in range(a.repeats))[a.repeats // 2]
        gen = lambda: model.generate(ids, max_new_tokens=a.gen_len, min_new_tokens=a.gen_len,
                                     do_sample=False, pad_token_id=0)
        timed(gen)  # warm-up
        total = sorted(timed(gen)[0] for _ in range(a.repeats))[a.repeats // 2]
    decode_ms = (total - prefill) / max(1, a.gen_len - 1)
    print(json.dumps({
        "bench": "latency", "peer": "hf-transformers", "model": "random:" + a.preset,
        "prompt_len": a.prompt_len, "gen_len": a.gen_len, "init_s": load_s,
        "prefill_ms": prefill, "prefill_tok_s": a.prompt_len / (prefill / 1000.0),
        "decode_ms_per_token": decode_ms, "decode_tok_s": 1000.0 / decode_ms,
        "peak_memory_bytes": torch.cuda.max_memory_allocated(),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
