"""The JSON Schema suite end to end: every schema of tests/schema/gen_schemas.py (hand-picked cases
for each supported keyword, generated combinations, nested, and the hand-written app schemas),
each run with several seeds on random-weight models at temperature 1 through
llm_session_set_json_schema; every output that ends must parse as JSON and validate with the
Python `jsonschema` package and its format checker, and every run ends within its token limit
with a clear finish reason.

Random models are adversarial: they wander into every branch the schema's grammar has. A bias
on closing characters (quote, brackets, comma) makes them finish most documents within the
token limit, so whole documents get validated; the runs cut by the limit are counted and
reported ("length"), and must stay a minority.
"""
import json
import os
import subprocess
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "schema"))
sys.path.insert(0, HERE)
import gen_schemas  # noqa: E402
from test_grammar_generate import DRIVER, models  # noqa: E402,F401  (the shared model fixture)

try:
    import jsonschema
except ImportError:  # pragma: no cover
    pytest.fail("the jsonschema package is missing: pip install -r tests/requirements.txt")

BIAS = ['"=2', "}=2", "]=2", ",=1"]
MAX_TOKENS = 400


def run(model, schema_file, seeds, top_k):
    cmd = [DRIVER, model, "--json-schema", schema_file, "--seeds", str(seeds), "--temp", "1.0",
           "--top-k", str(top_k), "--max-tokens", str(MAX_TOKENS), "--prompt", "JSON:"]
    for b in BIAS:
        cmd += ["--bias", b]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stderr}"
    # split on "\n" only: splitlines() also breaks at U+0085, U+2028 and other separators a
    # generated text may hold (the driver escapes only control characters)
    return [json.loads(line) for line in r.stdout.split("\n") if line]


def test_schema_suite(models, tmp_path):
    cases = gen_schemas.schemas()
    assert len(cases) >= 300, len(cases)
    counts = {"valid": 0, "length": 0, "runs": 0}
    failures = []
    for i, (name, schema) in enumerate(cases):
        path = tmp_path / f"s{i}.json"
        path.write_text(json.dumps(schema), encoding="utf-8")
        configs = [("synthetic", 40, 2), ("synthetic", 0, 1)]
        if i % 4 == 0:  # a quarter also with the real Llama 3 vocabulary (multi-character tokens)
            configs.append(("llama3", 40, 1))
        for vocab, top_k, seeds in configs:
            for out in run(models[vocab], str(path), seeds, top_k):
                counts["runs"] += 1
                where = f"{name} ({vocab}, top-k {top_k}, seed {out['seed']})"
                if out["finish"] == "length":
                    counts["length"] += 1
                    assert out["tokens"] <= MAX_TOKENS, where
                    continue
                if out["finish"] != "eog":
                    failures.append(f"{where}: finish {out['finish']}: {out['text'][:200]!r}")
                    continue
                try:
                    doc = json.loads(out["text"])
                    # the format checker of the schema's draft (a bare FormatChecker() mixes the
                    # drafts: draft 3's "time" is %H:%M:%S without an offset)
                    cls = jsonschema.validators.validator_for(schema)
                    jsonschema.validate(doc, schema, cls=cls, format_checker=cls.FORMAT_CHECKER)
                    counts["valid"] += 1
                except (ValueError, jsonschema.ValidationError) as e:
                    failures.append(f"{where}: {str(e)[:300]}\n  output: {out['text'][:300]!r}")
    print(f"schemas: {len(cases)}, runs: {counts['runs']}, ended and valid: {counts['valid']}, "
          f"cut at {MAX_TOKENS} tokens: {counts['length']}, invalid: {len(failures)}")
    assert not failures, "\n".join(failures[:20])
    assert counts["length"] <= counts["runs"] // 5, counts
