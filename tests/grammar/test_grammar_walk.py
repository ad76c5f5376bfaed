"""lib/grammar against the independent Python reference (tests/grammar/gbnf_ref.py), through the
driver tests/grammar/grammar_walk.c.

- test_walks[...]: for every shipped grammar and the grammars below, random walks of the C
  matcher over a synthetic vocabulary (single bytes, multi-byte pieces, UTF-8 fragments, slices
  of sample strings that span several grammar elements): every finished walk must be a string of
  the language for the reference, every unfinished one a prefix of one; the driver itself checks
  the mask against the one-token question on the way.
- test_membership[...]: reference samples must be accepted whole; mutated and random strings must
  get the reference's answer, both "is a prefix" and "is a whole string".
- test_rejected_grammars[...]: malformed grammars rejected by both, at the same line and column
  for the syntax errors.
- test_fuzz_regressions: inputs the libFuzzer target (tests/fuzz/fuzz_gbnf.c) once failed on, in
  tests/fuzz/gbnf_regressions/, replayed through the target's body (its invariants abort).

The driver comes from $LLM_GRAMMAR_WALK (set by ctest); else build-gram/ or build/ is searched.
Run by hand:  LLM_GRAMMAR_WALK=build-gram/grammar_walk python3 -m pytest -q tests/grammar/test_grammar_walk.py
"""
import glob
import os
import random
import re
import subprocess
import sys
import zlib

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gbnf_ref as ref  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
TESTDATA = os.environ.get("LLM_TESTDATA", os.path.join(ROOT, "..", "shared", "testdata"))
SHIPPED = sorted(glob.glob(os.path.join(TESTDATA, "grammars", "*.gbnf")))
TIMEOUT = 120


def driver():
    path = os.environ.get("LLM_GRAMMAR_WALK")
    if path:
        return path
    for build in ("build-gram", "build"):
        p = os.path.join(ROOT, build, "grammar_walk")
        if os.path.exists(p):
            return p
    pytest.fail("grammar_walk not found: build it (target grammar_walk) or set LLM_GRAMMAR_WALK")


OWN = {
    "nested_reps": 'root ::= ("<" [a-c]{1,3} ">" | "(" item* ")"){2,4} "."\nitem ::= [0-9]+ ","?',
    "utf8_classes": 'root ::= ([α-ω] | [^\\x00-\\u07ff] | "é" | [\\U0001F600-\\U0001F60F])+ "!"',
    "negated": 'root ::= "\\"" [^"\\\\\\n]* "\\""  ("," "\\"" [^"]{0,3} "\\"")*',
    "empty_alts": 'root ::= a b a\na ::= | "x" | "xy"\nb ::= "-" | ',
    "recursion": 'root ::= expr\nexpr ::= "(" expr ("+" expr)* ")" | [a-z] | "[" list? "]"\n'
                 'list ::= expr ("," expr)*',
    "any_char": 'root ::= "<" .{1,6} ">" | "#" (. | "\\n"){0,3}',
    "counted": 'root ::= [0-9]{3} "-" [a-f0-9]{2,5} ("." [xy]{0,2})?',
    "words": 'root ::= word (" " word){0,8}\nword ::= "the" | "then" | "theme" | "a" | "an" | "and" | [A-Z][a-z]*',
}

CASES = [(os.path.basename(p)[:-5], open(p, encoding="utf-8").read()) for p in SHIPPED] + sorted(OWN.items())


def test_shipped_grammars_found():
    assert len(SHIPPED) >= 8, f"shipped grammars not found under {TESTDATA}/grammars"


def make_vocab(g, rng):
    """Token pieces (bytes) for walking grammar g."""
    pieces = {bytes([b]) for b in range(256)}
    samples = [ref.sample(g, rng, 60).encode("utf-8") for _ in range(40)]
    for s in samples:
        for _ in range(12):
            if not s:
                break
            a = rng.randrange(len(s))
            b = min(len(s), a + 1 + rng.randrange(8))
            pieces.add(s[a:b])  # slices: several elements, maybe cut inside a sequence
    for c in "éαω日本😀ß€\u2028":
        e = c.encode("utf-8")
        pieces.add(e)
        pieces.add(e[:1])
        pieces.add(e[1:])
        pieces.add(e + b"a")
    for _ in range(200):
        pieces.add(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4))))
    pieces.discard(b"")
    return sorted(pieces)


def run_driver(args, stdin=None):
    r = subprocess.run([driver()] + args, input=stdin, capture_output=True, timeout=TIMEOUT)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


@pytest.mark.parametrize("name,text", CASES, ids=[c[0] for c in CASES])
def test_walks(name, text, tmp_path):
    g = ref.parse(text)
    rng = random.Random(zlib.crc32(name.encode()))
    gpath = tmp_path / "g.gbnf"
    gpath.write_text(text, encoding="utf-8")
    vpath = tmp_path / "vocab.hex"
    vpath.write_text("".join(p.hex() + "\n" for p in make_vocab(g, rng)))
    walks = 40
    rc, out, err = run_driver(["walk", str(gpath), str(vpath), str(rng.randrange(1 << 30)), str(walks), "120"])
    assert rc == 0, f"driver failed ({rc}): {err}"
    finished = unfinished = 0
    for line in out.splitlines():
        tag, _, hx = line.partition(" ")
        data = bytes.fromhex(hx)
        if tag == "W":
            finished += 1
            s = data.decode("utf-8")  # a finished walk is whole UTF-8
            assert ref.recognise(g, s), f"walk output not in the language: {s!r}"
        else:
            assert tag == "U", line
            unfinished += 1
            s = data.decode("utf-8", "ignore") if len(data) < 400 else None
            if s is not None and s.encode("utf-8") == data:
                assert ref.is_prefix(g, s), f"unfinished walk is not a prefix: {s!r}"
    assert finished + unfinished == walks
    assert finished >= walks // 2, f"only {finished} of {walks} walks finished"


def mutate(s, rng):
    t = list(s)
    for _ in range(1 + rng.randrange(2)):
        op = rng.randrange(4)
        i = rng.randrange(len(t) + 1)
        if op == 0 and t:
            del t[min(i, len(t) - 1)]
        elif op == 1:
            t.insert(i, rng.choice('{}[]",:. a1\n-é日+()<>=#x'))
        elif op == 2 and t:
            t[min(i, len(t) - 1)] = rng.choice("az09 \"'\\")
        else:
            t = t[:i]
    return "".join(t)


@pytest.mark.parametrize("name,text", CASES, ids=[c[0] for c in CASES])
def test_membership(name, text, tmp_path):
    g = ref.parse(text)
    rng = random.Random(zlib.crc32(name.encode()) + 1)
    members = [ref.sample(g, rng, 80) for _ in range(60)]
    others = [mutate(rng.choice(members), rng) for _ in range(150)]
    others += ["".join(rng.choice("ab(){}[]\"0123 .,\n") for _ in range(rng.randrange(8))) for _ in range(30)]
    strings = members + others
    gpath = tmp_path / "g.gbnf"
    gpath.write_text(text, encoding="utf-8")
    stdin = "".join(s.encode("utf-8").hex() + "\n" for s in strings).encode()
    rc, out, err = run_driver(["check", str(gpath)], stdin)
    assert rc == 0, f"driver failed ({rc}): {err}"
    got = out.split()
    assert len(got) == len(strings)
    n_non_members = 0
    for s, answer in zip(strings, got):
        want = f"{int(ref.is_prefix(g, s))}{int(ref.recognise(g, s))}"
        n_non_members += want[1] == "0"
        assert answer == want, f"{s!r}: C says {answer} (prefix, whole), the reference {want}"
    for s, answer in zip(members, got):
        assert answer == "11"
    assert n_non_members >= 20, "the mutations hardly left the language: the test would not catch much"


BAD = [
    ('root ::= "a" "b', True),
    ("root ::= [ab", True),
    ('root ::= "a"\nfoo ::= bar', True),
    ('a ::= "x"', True),
    ('root ::= "a"\n  | "b"', True),
    ('root := "a"', True),
    ('root ::= ("a" | "b"', True),
    ('root ::= "a")', True),
    ('root ::= "a" ]', True),
    ('root ::= "\\q"', True),
    ('root ::= "\\x4"', True),
    ('root ::= "\\U00110000"', True),
    ("root ::= [z-a]", True),
    ('root ::= "a"{2,1}', True),
    ('root ::= "a"{x}', True),
    ('root ::= "a"{1,2', True),
    ('root ::= "a"{,2}', True),
    ('root ::= "a"\nroot ::= "b"', True),
    ('# é\nroot ::= "ü" ü', True),
    ('root ::= "a" {2}\n', False),  # fine: spaces before a repetition
    ("root ::= expr\nexpr ::= expr \"+\" [0-9] | [0-9]", True),
    ('root ::= a\na ::= b "x"\nb ::= "y" | a', True),
    ('root ::= ws root "x" | "y"\nws ::= " "*', True),
    ('root ::= "a" ("b"?)*', True),
    ('root ::= x+\nx ::= "a" | ', True),
    ('root ::= ("a" root | "")*', True),
    ("root ::= ", False),
    ("", True),
    ('root ::= "a" # no newline at the end', False),
]


@pytest.mark.parametrize("text,same_place", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_rejected_grammars(text, same_place, tmp_path):
    gpath = tmp_path / "g.gbnf"
    gpath.write_text(text, encoding="utf-8")
    rc, out, err = run_driver(["parse", str(gpath)])
    try:
        ref.parse(text)
        ref_err = None
    except ref.GbnfError as e:
        ref_err = str(e)
    if ref_err is None:
        assert rc == 0 and out.strip() == "OK", f"C rejects what the reference accepts: {out}"
        return
    assert rc == 2 and out.startswith("ERR 4 "), f"C accepts what the reference rejects ({ref_err}): {out}"
    if same_place:
        where = re.compile(r"line \d+, column \d+")
        assert where.search(out).group(0) == where.search(ref_err).group(0), (out, ref_err)


REGRESSIONS = os.path.join(ROOT, "tests", "fuzz", "gbnf_regressions")


def test_fuzz_regressions():
    files = sorted(glob.glob(os.path.join(REGRESSIONS, "*")))
    assert files, f"no regression inputs in {REGRESSIONS}"
    rc, out, err = run_driver(["replay"] + files)
    assert rc == 0 and out.strip() == "OK", f"replay failed ({rc}): {err[-2000:]}"
