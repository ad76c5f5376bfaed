"""Runs tests/tokenizer/tok_driver over a list of strings (helper for the tokenizer tests)."""
import os
import struct
import subprocess
import tempfile

BIN_DIR = os.environ.get("LLM_BIN_DIR", "")
TESTDATA = os.environ.get("LLM_TESTDATA", "")
FIXTURES = os.environ.get("LLM_FIXTURES", "")


def run(model, strings, bos=False, special=False, decode_special=False):
    """Returns (results, timings): results[i] = (status, ids, decoded_bytes)."""
    exe = os.path.join(BIN_DIR, "tok_driver")
    with tempfile.TemporaryDirectory() as d:
        inp, outp = os.path.join(d, "in"), os.path.join(d, "out")
        with open(inp, "wb") as f:
            for s in strings:
                b = s.encode("utf-8", "surrogatepass") if isinstance(s, str) else s
                f.write(struct.pack("<I", len(b)))
                f.write(b)
        args = [exe] + (["--bos"] if bos else []) + (["--special"] if special else []) + \
            (["--decode-special"] if decode_special else []) + [model, inp, outp]
        p = subprocess.run(args, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, "tok_driver failed: %s %s" % (p.stdout, p.stderr)
        timings = {}
        for line in p.stdout.splitlines():
            k, v = line.split()
            timings[k] = float(v)
        data = open(outp, "rb").read()
    res, o = [], 0
    for _ in strings:
        st, n = struct.unpack_from("<iI", data, o)
        o += 8
        ids = list(struct.unpack_from("<%di" % n, data, o))
        o += 4 * n
        (dl,) = struct.unpack_from("<I", data, o)
        o += 4
        res.append((st, ids, data[o:o + dl]))
        o += dl
    assert o == len(data)
    return res, timings
