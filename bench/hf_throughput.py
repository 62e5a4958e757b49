#!/usr/bin/env python3
"""HF transformers peer for `hearth bench throughput`: the same Qwen3 shape with random bf16
weights (no downloads), N requests of I random token ids and O new tokens each (EOS cannot
stop them), run two ways:

  static      model.generate on batches of --concurrency prompts, one batch after another
              (all prompts have the same length, so there is no padding);
  continuous  HF's continuous batching (ContinuousBatchingManager, the engine behind
              generate_batch), when the installed transformers has it; skipped with a
              message otherwise.

Prints one JSON line per mode with hearth's key names (output_tok_s, total_tok_s,
elapsed_s, ...). --max-seconds caps each mode's timed part: it stops early and reports the
throughput of the tokens generated so far, with "partial": true (256 x 1000/1000 takes
minutes in HF).

Run on the GPU machine, e.g.
  python3 bench/hf_throughput.py --preset qwen3-8b --requests 64 --input-len 512 --output-len 256
"""
import argparse
import json
import os
import sys
import threading
import time

import torch
import transformers
from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

PRESETS = {  # hidden, intermediate, layers, heads, kv heads, tied (as bench/hf_latency.py)
    "qwen3-0.6b": (1024, 3072, 28, 16, 8, True),
    "qwen3-1.7b": (2048, 6144, 28, 16, 8, True),
    "qwen3-4b": (2560, 9728, 36, 32, 8, True),
    "qwen3-8b": (4096, 12288, 36, 32, 8, False),
    "qwen3-14b": (5120, 17408, 40, 40, 8, False),
}
VOCAB = 151936
ORDINARY_TOKENS = 151643  # prompt ids stay below Qwen3's special tokens, as hearth's bench serve


def log(msg):
    print(f"hf_throughput: {msg}", file=sys.stderr, flush=True)


def build_model(preset):
    h, i, l, nh, kv, tied = PRESETS[preset]
    cfg = Qwen3Config(vocab_size=VOCAB, hidden_size=h, intermediate_size=i, num_hidden_layers=l,
                      num_attention_heads=nh, num_key_value_heads=kv, head_dim=128,
                      max_position_embeddings=40960, tie_word_embeddings=tied, rope_theta=1e6)
    try:
        cfg._attn_implementation = "sdpa"
    except (AttributeError, TypeError):
        pass  # newer configs resolve it at model creation; set_attn_implementation below
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        model = Qwen3ForCausalLM(cfg).eval()
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("sdpa")
    torch.cuda.synchronize()
    return model


def make_prompts(n, input_len, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, ORDINARY_TOKENS, (n, input_len), generator=g).tolist()


def report(a, mode, elapsed, prompt_tokens, output_tokens, completed, partial, **extra):
    out = {
        "bench": "throughput", "peer": "hf-transformers", "mode": mode, "model": "random:" + a.preset,
        "requests": a.requests, "input_len": a.input_len, "output_len": a.output_len,
        "concurrency": a.concurrency or a.requests, "elapsed_s": elapsed,
        "prompt_tokens": prompt_tokens, "output_tokens": output_tokens,
        "output_tok_s": output_tokens / elapsed if elapsed > 0 else 0.0,
        "total_tok_s": (prompt_tokens + output_tokens) / elapsed if elapsed > 0 else 0.0,
        "completed_requests": completed, "partial": partial,
        "peak_memory_bytes": torch.cuda.max_memory_allocated(),
        "torch": torch.__version__, "transformers": transformers.__version__,
    }
    out.update(extra)
    print(json.dumps(out), flush=True)


def fail_line(a, mode, why):
    print(json.dumps({"bench": "throughput", "peer": "hf-transformers", "mode": mode,
                      "model": "random:" + a.preset, "error": why}), flush=True)


def run_static(a, model, prompts):
    batch = a.concurrency or a.requests
    gen = dict(max_new_tokens=a.output_len, min_new_tokens=a.output_len, do_sample=False, pad_token_id=0)
    with torch.inference_mode():  # warm-up: one small batch, not timed
        model.generate(torch.tensor(prompts[:1], device="cuda"), **dict(gen, max_new_tokens=2, min_new_tokens=2))
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    prompt_tokens = output_tokens = completed = 0
    partial = False
    with torch.inference_mode():
        for start in range(0, a.requests, batch):
            left = a.max_seconds - (time.perf_counter() - t0) if a.max_seconds else None
            if left is not None and left <= 0:
                partial = True
                break
            ids = torch.tensor(prompts[start:start + batch], device="cuda")
            # max_time stops generate between steps once the cap is reached (a stopping
            # criterion: min_new_tokens only keeps EOS out, it does not prevent this).
            out = model.generate(ids, **gen, **({"max_time": left} if left is not None else {}))
            torch.cuda.synchronize()
            new = out.shape[1] - ids.shape[1]
            prompt_tokens += ids.numel()
            output_tokens += new * ids.shape[0]
            if new == a.output_len:
                completed += ids.shape[0]
            else:
                partial = True
                break
    elapsed = time.perf_counter() - t0
    report(a, "static", elapsed, prompt_tokens, output_tokens, completed, partial or completed < a.requests)


def in_flight_tokens(manager):
    """Tokens generated so far by unfinished requests (internal API; 0 when it moved)."""
    try:
        sched = manager.batch_processor.scheduler
        return sum(len(sched.get_active_request_static_outputs(rid)) for rid in list(sched.active_requests.keys())), \
            len(sched.active_requests)
    except Exception as e:  # noqa: BLE001 - a best-effort count of a moving internal API
        log(f"cannot count in-flight tokens ({e!r}); partial counts cover finished requests only")
        return 0, 0


def run_continuous(a, model, prompts):
    if not hasattr(model, "init_continuous_batching"):
        fail_line(a, "continuous", f"skipped: transformers {transformers.__version__} has no continuous batching "
                                   "(init_continuous_batching / generate_batch)")
        return
    gc = GenerationConfig(max_new_tokens=a.output_len, do_sample=False, pad_token_id=0,
                          eos_token_id=-1)  # -1 never matches: every request yields max_new_tokens
    kwargs = {"generation_config": gc}
    if a.cb_max_batch_tokens:
        try:
            from transformers.generation import ContinuousBatchingConfig
            kwargs["continuous_batching_config"] = ContinuousBatchingConfig(max_batch_tokens=a.cb_max_batch_tokens)
        except ImportError:
            log("this transformers has no ContinuousBatchingConfig: --cb-max-batch-tokens ignored")
    torch.cuda.empty_cache()
    manager = model.init_continuous_batching(**kwargs)
    warmup_s = 0.0
    if a.cb_warmup and hasattr(manager, "warmup"):
        t = time.perf_counter()
        manager.warmup()  # captures CUDA graphs, as generate_batch does before it starts
        warmup_s = time.perf_counter() - t
    manager.start()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    # Closed loop like hearth's bench: at most `concurrency` requests submitted at once.
    limit = a.concurrency or a.requests
    submitted = finished = output_tokens = prompt_tokens = 0
    partial = False
    inflight = 0
    errors = []
    done_ids = set()
    while finished < a.requests:
        while submitted < a.requests and submitted - finished < limit:
            manager.add_request(input_ids=prompts[submitted], request_id=f"r{submitted}", max_new_tokens=a.output_len)
            submitted += 1
        if a.max_seconds and time.perf_counter() - t0 >= a.max_seconds:
            partial = True
            inflight, n_active = in_flight_tokens(manager)
            prompt_tokens += n_active * a.input_len
            break
        result = manager.get_result(timeout=0.2)
        if result is None:
            if not manager.is_running():
                errors.append("the generation thread stopped")
                break
            continue
        failed = getattr(result, "error", None) is not None or \
            getattr(getattr(result, "status", None), "name", "") == "FAILED"
        if not failed and hasattr(result, "is_finished") and not result.is_finished():
            continue  # a streamed partial output
        finished += 1
        done_ids.add(result.request_id)
        if failed:
            errors.append(str(getattr(result, "error", None) or "failed"))
            continue
        output_tokens += len(result.generated_tokens)
        prompt_tokens += a.input_len
    elapsed = time.perf_counter() - t0
    # The manager's loop runs until nothing is pending: cancel what is left, or stop()
    # would finish every request first.
    for i in range(submitted):
        if f"r{i}" not in done_ids:
            manager.cancel_request(f"r{i}")
    manager.stop(block=True, timeout=30)
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("sdpa")  # the manager switched it to paged attention
    extra = {"warmup_s": warmup_s, "failed_requests": len(errors)}
    if errors:
        extra["first_error"] = errors[0]
    if partial:
        extra["in_flight_output_tokens"] = inflight
    report(a, "continuous", elapsed, prompt_tokens, output_tokens + inflight, finished - len(errors),
           partial, **extra)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="qwen3-8b", choices=sorted(PRESETS))
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--input-len", type=int, default=512)
    ap.add_argument("--output-len", type=int, default=256)
    ap.add_argument("--concurrency", type=int, default=0, help="requests in flight at most (0 = all)")
    ap.add_argument("--max-seconds", type=float, default=0, help="cap on each mode's timed part (0 = none)")
    ap.add_argument("--modes", default="static,continuous", help="comma-separated: static, continuous")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cb-max-batch-tokens", type=int, default=0, help="continuous batching token budget per step")
    ap.add_argument("--no-cb-warmup", dest="cb_warmup", action="store_false",
                    help="skip the CUDA-graph warm-up of continuous batching")
    a = ap.parse_args()
    for name in ("requests", "input_len", "output_len"):
        if getattr(a, name) <= 0:
            ap.error(f"--{name.replace('_', '-')} must be positive")
    if a.concurrency < 0 or a.max_seconds < 0:
        ap.error("--concurrency and --max-seconds must be >= 0")
    modes = [m.strip() for m in a.modes.split(",") if m.strip()]
    for m in modes:
        if m not in ("static", "continuous"):
            ap.error(f"unknown mode '{m}'")

    t = time.perf_counter()
    model = build_model(a.preset)
    log(f"random:{a.preset} built in {time.perf_counter() - t:.1f} s (transformers {transformers.__version__})")
    prompts = make_prompts(a.requests, a.input_len, a.seed)
    runners = {"static": run_static, "continuous": run_continuous}
    status = 0
    for m in modes:
        try:
            runners[m](a, model, prompts)
        except torch.cuda.OutOfMemoryError as e:
            fail_line(a, m, f"out of memory: {str(e).splitlines()[0]}")
            status = 1
        except Exception as e:  # noqa: BLE001 - report the mode's failure, go on with the next
            fail_line(a, m, f"{type(e).__name__}: {e}")
            status = 1
        torch.cuda.empty_cache()
    return status


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # A continuous-batching thread that did not stop in time would keep the interpreter
    # alive after main(); the results are printed, so leave without waiting for it.
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        os._exit(code)
    sys.exit(code)
