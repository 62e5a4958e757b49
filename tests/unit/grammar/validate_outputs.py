#!/usr/bin/env python3
"""Independent check of constrained outputs: every line {"id", "schema", "output"} must parse as
JSON and validate against its schema with python3-jsonschema (format checks on). Exit 0 when
all do, 1 otherwise (the failures are printed), 77 when jsonschema is not installed."""
import json
import sys

try:
    import jsonschema
    from jsonschema import validators
except ImportError:
    sys.exit(77)

bad = 0
n = 0
with open(sys.argv[1]) as f:
    for line in f:
        d = json.loads(line)
        n += 1
        try:
            inst = json.loads(d["output"])
        except ValueError as e:
            bad += 1
            print("does not parse:", d["id"], e, d["output"][:200])
            continue
        cls = validators.validator_for(d["schema"], default=jsonschema.Draft202012Validator)
        errors = list(cls(d["schema"], format_checker=cls.FORMAT_CHECKER).iter_errors(inst))
        if errors:
            bad += 1
            print("invalid:", d["id"], errors[0].message[:200], "|", d["output"][:200])
print(f"checked {n}, failed {bad}")
sys.exit(1 if bad else 0)
