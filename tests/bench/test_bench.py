"""Tests of `llm bench` (examples/cli/bench.c) on a tiny random-weight model.

Environment (set by ctest): LLM_BIN_DIR holds the `llm` binary, LLM_FIXTURES is where the
generated model is written. The numbers are not checked against any speed, only for shape and
sanity: the machine may be loaded.
"""
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("LLM_BIN_DIR", ROOT / "build"))
LLM = BIN_DIR / "llm"
FIXTURES = Path(os.environ.get("LLM_FIXTURES", BIN_DIR / "fixtures"))
MAKE_MODEL = ROOT / "tests" / "tools" / "make_model.py"

ROW = re.compile(r"^\|\s*(?P<model>[^|]+?)\s*\|\s*(?P<size>[^|]+?)\s*\|\s*(?P<params>[^|]+?)\s*\|"
                 r"\s*(?P<isa>[^|]+?)\s*\|\s*(?P<precision>fast|exact)\s*\|\s*(?P<threads>\d+)\s*\|\s*(?P<test>(pp|tg)\d+)\s*\|"
                 r"\s*(?P<avg>[0-9.]+)\s*\u00b1\s*(?P<sd>[0-9.]+)\s*\|$")


def run_bench(*args, timeout=120):
    return subprocess.run([str(LLM), "bench", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session", autouse=True)
def binary():
    if not LLM.exists():
        pytest.fail(f"llm binary not found at {LLM} (build the llm-cli target)")


@pytest.fixture(scope="session")
def tiny():
    FIXTURES.mkdir(parents=True, exist_ok=True)
    path = FIXTURES / "bench_tiny_llama_q8_0.gguf"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        subprocess.run([sys.executable, str(MAKE_MODEL), "--arch", "llama", "--type", "Q8_0", "--seed", "7",
                        "--out", str(tmp)], check=True, timeout=120)
        os.replace(tmp, path)
    return str(path)


def table_rows(stdout):
    return [m.groupdict() for m in map(ROW.match, stdout.splitlines()) if m]


def test_help():
    r = run_bench("--help")
    assert r.returncode == 0, r.stderr
    assert "llm bench" in r.stdout
    for opt in ("-m", "-p", "-n", "-t", "-r", "-o", "--bandwidth", "--precision"):
        assert opt in r.stdout
    top = subprocess.run([str(LLM), "--help"], capture_output=True, text=True, timeout=30)
    assert "bench" in top.stdout


def test_markdown_table(tiny):
    r = run_bench("-m", tiny, "-p", "16", "-n", "8", "-r", "2", "-t", "1")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].replace(" ", "") == "|model|size|params|isa|precision|threads|test|t/s|", r.stdout
    rows = table_rows(r.stdout)
    assert [row["test"] for row in rows] == ["pp16", "tg8"], r.stdout
    for row in rows:
        assert row["model"] == os.path.basename(tiny)
        assert row["threads"] == "1"
        assert row["precision"] == "fast"  # the library's default
        assert row["isa"] in ("scalar", "avx2", "avx512", "amx", "neon")
        avg, sd = float(row["avg"]), float(row["sd"])
        assert avg > 0 and math.isfinite(avg), row
        assert sd >= 0 and math.isfinite(sd), row


def test_json(tiny):
    r = run_bench("-m", tiny, "-p", "16", "-n", "8", "-r", "2", "-t", "1", "-o", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert isinstance(data, list) and len(data) == 2
    fields = ("model_filename", "model_name", "model_size", "model_n_params", "isa", "precision", "backend", "n_threads",
              "n_prompt", "n_gen", "avg_ts", "stddev_ts", "samples_ts", "samples_ns")
    for obj in data:
        for f in fields:
            assert f in obj, (f, obj)
        assert obj["model_filename"] == tiny
        assert obj["model_size"] > 0 and obj["model_n_params"] > 0
        assert obj["n_threads"] == 1
        assert len(obj["samples_ts"]) == 2 and all(x > 0 for x in obj["samples_ts"])
        assert obj["avg_ts"] > 0 and obj["stddev_ts"] >= 0
        assert abs(obj["avg_ts"] - sum(obj["samples_ts"]) / 2) <= 1e-3 * obj["avg_ts"]
    assert [(o["n_prompt"], o["n_gen"]) for o in data] == [(16, 0), (0, 8)]


def test_lists_and_isa_override(tiny):
    r = run_bench("-m", f"{tiny},{tiny}", "-p", "4,8", "-n", "0", "-r", "1", "-t", "1", "-o", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert [o["n_prompt"] for o in data] == [4, 8, 4, 8]
    r = subprocess.run([str(LLM), "bench", "-m", tiny, "-p", "4", "-n", "2", "-r", "1", "-t", "1", "-o", "json"],
                       capture_output=True, text=True, timeout=60, env={**os.environ, "LLM_CPU_ISA": "scalar"})
    assert r.returncode == 0, r.stderr
    assert all(o["isa"] == "scalar" for o in json.loads(r.stdout))


def test_precision(tiny):
    r = run_bench("-m", tiny, "-p", "8", "-n", "4", "-r", "1", "-t", "1", "--precision", "exact,fast")
    assert r.returncode == 0, r.stderr
    rows = table_rows(r.stdout)
    assert [(row["precision"], row["test"]) for row in rows] == [("exact", "pp8"), ("exact", "tg4"),
                                                                  ("fast", "pp8"), ("fast", "tg4")], r.stdout
    r = run_bench("-m", tiny, "-p", "0", "-n", "2", "-r", "1", "-t", "1", "--precision=exact", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert [o["precision"] for o in json.loads(r.stdout)] == ["exact"]
    r = run_bench("-m", tiny, "--precision", "fastest")
    assert r.returncode == 2 and "--precision" in r.stderr


def test_bandwidth(tiny):
    r = run_bench("-m", tiny, "-p", "0", "-n", "4", "-r", "1", "-t", "1", "--bandwidth")
    assert r.returncode == 0, r.stderr
    m = re.search(r"1 thread\s*:\s*([0-9.]+) GB/s", r.stdout)
    assert m, r.stdout
    assert float(m.group(1)) > 0
    assert "% of floor" in r.stdout
    assert re.search(r"\|\s*tg4\s*\|.*\|\s*[0-9.]+%\s*\|", r.stdout), r.stdout
    r = run_bench("-m", tiny, "-p", "0", "-n", "4", "-r", "1", "-t", "1", "--bandwidth", "-o", "json")
    assert r.returncode == 0, r.stderr
    (obj,) = json.loads(r.stdout)
    assert obj["bandwidth_gbs"] > 0 and obj["decode_floor_ts"] > 0 and obj["floor_pct"] > 0


def test_bad_model_path(tmp_path):
    missing = str(tmp_path / "no-such-model.gguf")
    r = run_bench("-m", missing, "-p", "4", "-n", "2", "-r", "1")
    assert r.returncode != 0
    assert "no-such-model.gguf" in r.stderr
    assert "cannot load model" in r.stderr
    r = run_bench("-m", missing, "-o", "json")
    assert r.returncode != 0


def test_bad_options(tiny):
    for args in (["-r", "0"], ["-p", "x"], ["-o", "xml"], ["--frobnicate"], ["-t"], ["--precision", "half"]):
        r = run_bench("-m", tiny, *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "llm bench" in r.stderr


def test_sessions_batched_decode(tiny):
    """--sessions: extra "tgN xS" rows (batched decode through llm_session_step_batch) after the
    usual ones, in both formats; without the option the output is unchanged (the tests above)."""
    r = run_bench("-m", tiny, "-p", "16", "-n", "8", "-r", "2", "-t", "1", "--sessions", "1,3")
    assert r.returncode == 0, r.stderr
    batched = re.compile(r"^\|.*\|\s*(tg\d+ x\d+)\s*\|\s*([0-9.]+)\s*\u00b1\s*([0-9.]+)\s*\|$")
    rows = [m.groups() for m in map(batched.match, r.stdout.splitlines()) if m]
    assert [row[0] for row in rows] == ["tg8 x1", "tg8 x3"], r.stdout
    assert all(float(row[1]) > 0 for row in rows)
    assert [row["test"] for row in table_rows(r.stdout)] == ["pp16", "tg8"], r.stdout
    r = run_bench("-m", tiny, "-p", "0", "-n", "8", "-r", "1", "-t", "1", "--sessions", "2", "-o", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert [(o["n_gen"], o.get("n_sessions")) for o in data] == [(8, None), (8, 2)]
    assert data[1]["avg_ts"] > 0
    for bad in ("0", "x", "1,,2"):
        r = run_bench("-m", tiny, "--sessions", bad)
        assert r.returncode != 0 and "--sessions" in r.stderr, (bad, r.stderr)


def test_grammar_rows(tiny, tmp_path):
    """--grammar / --json-schema: a "sampled" row and one per file, and the summary table with the
    sampling time per token; a grammar that does not parse is reported with its place."""
    g = tmp_path / "digits.gbnf"
    g.write_text("root ::= [0-9]{1,6} \" \" root?\n", encoding="utf-8")
    sch = tmp_path / "obj.json"
    sch.write_text('{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}',
                   encoding="utf-8")
    r = run_bench("-m", tiny, "-p", "0", "-n", "8", "-r", "2", "-t", "1", "--grammar", str(g),
                  "--json-schema", str(sch))
    assert r.returncode == 0, r.stderr
    for test in ("tg8 sampled", "tg8 digits.gbnf", "tg8 obj.json"):
        assert re.search(r"\|\s*" + re.escape(test) + r"\s*\|\s*[0-9.]+ \u00b1", r.stdout), r.stdout
    assert "% of sampled" in r.stdout and "sample us/t" in r.stdout
    rj = run_bench("-m", tiny, "-p", "0", "-n", "8", "-r", "1", "-t", "1", "--grammar", str(g), "-o", "json")
    assert rj.returncode == 0, rj.stderr
    rows = json.loads(rj.stdout)
    sampled = [x for x in rows if x.get("sampled")]
    assert [x["constraint"] for x in sampled] == ["sampled", "digits.gbnf"]
    assert all(x["sample_us_per_token"] > 0 and x["avg_ts"] > 0 for x in sampled)
    bad = tmp_path / "bad.gbnf"
    bad.write_text("root ::= [0-9\n", encoding="utf-8")
    rb = run_bench("-m", tiny, "-p", "0", "-n", "8", "-r", "1", "--grammar", str(bad))
    assert rb.returncode != 0 and "line 2, column 1" in rb.stderr, rb.stderr
    rm = run_bench("-m", tiny, "--grammar", str(tmp_path / "none.gbnf"))
    assert rm.returncode != 0 and "none.gbnf" in rm.stderr, rm.stderr
