#!/usr/bin/env python3
"""Converts the JSON conformance scenarios to MessagePack for the C runner (which has no JSON
parser). Usage: scenarios-to-msgpack.py OUT_DIR; prints the written paths."""
import json
import pathlib
import sys

import msgpack

out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
src = pathlib.Path(__file__).resolve().parent.parent / "ffi-tests" / "conformance" / "scenarios"
for path in sorted(src.glob("*.json")):
    target = out / (path.stem + ".msgpack")
    target.write_bytes(msgpack.packb(json.loads(path.read_text(encoding="utf-8")), use_bin_type=True))
    print(target)
