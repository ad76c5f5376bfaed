#!/usr/bin/env python3
"""Writes the seed corpus of tests/fuzz/fuzz_template.c into a folder (default
build-fuzz/template-corpus): each real chat template alone (the target then renders it with its
default variables), each real template with a few variable sets (TEMPLATE NUL VARS_JSON), and
the snippets of tests/template/test_template_jinja.py.

    python3 tests/fuzz/make_template_corpus.py [OUT_DIR]
"""
import hashlib
import json
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "template"))
import conversations as gen  # noqa: E402


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build-fuzz", "template-corpus")
    os.makedirs(out, exist_ok=True)
    inputs = []
    templates = gen.all_templates()
    convs = gen.conversations()
    # a few variable sets: plain chat, tool use, non-ASCII, empty messages
    picks = [0, 3, 5, 6, 7, 11, 15]
    for t in templates:
        src = t.source.encode("utf-8")
        inputs.append(src)
        for i in picks:
            v = gen.variables(t, convs[i], i)
            inputs.append(src + b"\0" + json.dumps(v, ensure_ascii=(i % 2 == 0)).encode("utf-8"))
    try:
        import test_template_jinja as tj  # needs jinja2; the snippets are a bonus
        base = json.dumps(tj.BASE_VARS).encode()
        for _, source, _ in tj.SNIPPETS:
            inputs.append(source.encode("utf-8") + b"\0" + base)
    except ImportError as e:
        print("snippets left out:", e, file=sys.stderr)
    n = 0
    for data in inputs:
        if len(data) > 64 * 1024:
            continue
        name = hashlib.sha1(data).hexdigest()
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        n += 1
    print(f"{n} inputs in {out}")


if __name__ == "__main__":
    main()
