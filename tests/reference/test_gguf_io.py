#!/usr/bin/env python3
"""Self-test of gguf_io: writer -> reader round trip, and dequantization of
hand-built blocks against a scalar transcription of spec §2 (plus a few
values worked out by hand). Needs python3 + numpy; exits 77 without numpy."""

import os
import struct
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("SKIP: numpy not available")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_io as g  # noqa: E402

failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what)


def f16b(x):
    return struct.pack("<e", x)


def f16v(x):
    return float(np.float32(np.float16(x)))


# ------------------------------------------------------------ round trip

def test_round_trip():
    w = g.GGUFWriter()
    w.add_string("general.architecture", "captiond-golden")
    w.add_u32("golden.n_seq", 2)
    w.add_i32("x.i32", -5)
    w.add_f32("x.f32", 0.25)
    w.add_bool("x.bool", True)
    w.add_kv("x.u64", 2**40 + 3, g.UINT64)
    w.add_array("x.ids", [1, 6, 396, -1], g.INT32)
    w.add_array("x.strs", ["a", "héllo", ""], g.STRING)
    w.add_array("x.f", [0.5, 0.5, 0.5], g.FLOAT32)
    a = np.arange(3 * 5, dtype=np.float32).reshape(3, 5) - 7.5
    b = np.array([1.0, -2.0, 3.5], dtype=np.float32)
    c = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    w.add_tensor("seq.0.a", a)
    w.add_tensor("b", b)
    w.add_tensor("c", c)
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "t.gguf")
        w.write(p)
        data = open(p, "rb").read()
        r = g.GGUFReader(p)
        check(r.version == 3, "version 3")
        check(r.kv["general.architecture"] == "captiond-golden", "string kv")
        check(r.kv_types["golden.n_seq"] == (g.UINT32, None), "u32 type")
        check(r.kv["golden.n_seq"] == 2, "u32 value")
        check(r.kv["x.i32"] == -5, "i32")
        check(r.kv["x.f32"] == 0.25, "f32")
        check(r.kv["x.bool"] is True, "bool")
        check(r.kv["x.u64"] == 2**40 + 3, "u64")
        check(r.kv_types["x.ids"] == (g.ARRAY, g.INT32), "array type")
        check(list(r.kv["x.ids"]) == [1, 6, 396, -1], "int array")
        check(r.kv["x.strs"] == ["a", "héllo", ""], "string array")
        check(list(r.kv["x.f"]) == [0.5, 0.5, 0.5], "float array")
        check([t.name for t in r.tensors] == ["seq.0.a", "b", "c"], "tensor order")
        check(r.by_name["seq.0.a"].ne == (5, 3), "ne is reversed numpy shape")
        check(r.by_name["c"].ne == (4, 3, 2), "3-d ne")
        for t in r.tensors:
            check((r.data_start + t.offset) % 32 == 0, "32-byte alignment " + t.name)
        check(r.data_start % 32 == 0, "data_start aligned")
        check(np.array_equal(r.tensor_f32("seq.0.a"), a), "tensor a")
        check(np.array_equal(r.tensor_f32("b"), b), "tensor b")
        check(np.array_equal(r.tensor_f32("c"), c), "tensor c")
        # header fields at fixed offsets (spec §1.1)
        check(data[:4] == b"GGUF", "magic")
        check(struct.unpack_from("<IQQ", data, 4) == (3, 3, 9), "header counts")
        # a truncated file must be rejected
        tp = os.path.join(d, "trunc.gguf")
        open(tp, "wb").write(data[:len(data) - 8])
        try:
            g.GGUFReader(tp)
            check(False, "truncated file accepted")
        except g.GGUFError:
            pass


# ------------------------------------------- dequant: scalar spec transcription

def ref_q4_0(b):
    d = np.float32(f16v(struct.unpack_from("<e", b, 0)[0]))
    qs = b[2:18]
    y = [0.0] * 32
    for j in range(16):
        y[j] = np.float32(((qs[j] & 0x0F) - 8)) * d
        y[j + 16] = np.float32(((qs[j] >> 4) - 8)) * d
    return y


def ref_q4_1(b):
    d = np.float32(struct.unpack_from("<e", b, 0)[0])
    m = np.float32(struct.unpack_from("<e", b, 2)[0])
    qs = b[4:20]
    y = [0.0] * 32
    for j in range(16):
        y[j] = np.float32(qs[j] & 0xF) * d + m
        y[j + 16] = np.float32(qs[j] >> 4) * d + m
    return y


def ref_q5(b, has_min):
    d = np.float32(struct.unpack_from("<e", b, 0)[0])
    m = np.float32(struct.unpack_from("<e", b, 2)[0]) if has_min else None
    o = 4 if has_min else 2
    H = struct.unpack_from("<I", b, o)[0]
    qs = b[o + 4:o + 20]
    y = [0.0] * 32
    for j in range(16):
        h0 = ((H >> j) & 1) << 4
        h1 = ((H >> (j + 16)) & 1) << 4
        a = (qs[j] & 0xF) | h0
        c = (qs[j] >> 4) | h1
        if has_min:
            y[j] = np.float32(a) * d + m
            y[j + 16] = np.float32(c) * d + m
        else:
            y[j] = np.float32(a - 16) * d
            y[j + 16] = np.float32(c - 16) * d
    return y


def ref_q8_0(b):
    d = np.float32(struct.unpack_from("<e", b, 0)[0])
    return [np.float32(struct.unpack_from("<b", b, 2 + j)[0]) * d for j in range(32)]


def ref_q6_k(b):
    ql_all, qh_all = b[0:128], b[128:192]
    sc_all = struct.unpack_from("<16b", b, 192)
    d = np.float32(struct.unpack_from("<e", b, 208)[0])
    y = [0.0] * 256
    for n in range(2):
        ql = ql_all[64 * n:]
        qh = qh_all[32 * n:]
        sc = sc_all[8 * n:]
        for l in range(32):
            is_ = l // 16
            q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32
            q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32
            q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32
            q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32
            base = 128 * n
            y[base + l] = (d * np.float32(sc[is_ + 0])) * np.float32(q1)
            y[base + l + 32] = (d * np.float32(sc[is_ + 2])) * np.float32(q2)
            y[base + l + 64] = (d * np.float32(sc[is_ + 4])) * np.float32(q3)
            y[base + l + 96] = (d * np.float32(sc[is_ + 6])) * np.float32(q4)
    return y


def rand_block(rng, nbytes, f16_offsets):
    b = bytearray(rng.integers(0, 256, nbytes, dtype=np.uint8).tobytes())
    for o in f16_offsets:  # finite, moderate scales
        b[o:o + 2] = f16b(float(rng.uniform(-0.1, 0.1)))
    return bytes(b)


def test_dequant():
    rng = np.random.default_rng(1)
    cases = [
        (g.Q4_0, 18, [0], ref_q4_0),
        (g.Q4_1, 20, [0, 2], ref_q4_1),
        (g.Q5_0, 22, [0], lambda b: ref_q5(b, False)),
        (g.Q5_1, 24, [0, 2], lambda b: ref_q5(b, True)),
        (g.Q8_0, 34, [0], ref_q8_0),
        (g.Q6_K, 210, [208], ref_q6_k),
    ]
    for ttype, bb, offs, ref in cases:
        blocks = [rand_block(rng, bb, offs) for _ in range(3)]
        raw = b"".join(blocks)
        bs = g.GGML_TYPES[ttype][1]
        got = g.dequantize(raw, ttype, 3 * bs)
        exp = np.array(sum((ref(b) for b in blocks), []), dtype=np.float32)
        check(got.dtype == np.float32, g.GGML_TYPES[ttype][0] + " dtype")
        check(np.array_equal(got, exp), g.GGML_TYPES[ttype][0] + " vs spec transcription")

    # worked by hand: Q4_0 d = 0.5, qs[j] = 0x9F for all j -> low 15-8 = 7 -> 3.5,
    # high 9-8 = 1 -> 0.5
    blk = f16b(0.5) + bytes([0x9F] * 16)
    got = g.dequantize(blk, g.Q4_0, 32)
    check(np.array_equal(got, np.array([3.5] * 16 + [0.5] * 16, np.float32)), "Q4_0 by hand")
    # Q8_0 d = 0.25, qs = -16..15 -> -4.0 .. 3.75
    blk = f16b(0.25) + struct.pack("<32b", *range(-16, 16))
    got = g.dequantize(blk, g.Q8_0, 32)
    check(np.array_equal(got, np.arange(-16, 16, dtype=np.float32) * 0.25), "Q8_0 by hand")
    # Q4_1 d = 2, m = -1, qs = 0x21 -> low 1 -> 1, high 2 -> 3
    blk = f16b(2.0) + f16b(-1.0) + bytes([0x21] * 16)
    got = g.dequantize(blk, g.Q4_1, 32)
    check(np.array_equal(got, np.array([1.0] * 16 + [3.0] * 16, np.float32)), "Q4_1 by hand")
    # Q5_0 d = 1, H bit 0 and bit 16 set, qs = 0 -> y[0] = 16-16 = 0, y[1] = -16,
    # y[16] = 0, y[17] = -16
    blk = f16b(1.0) + struct.pack("<I", (1 << 0) | (1 << 16)) + bytes(16)
    got = g.dequantize(blk, g.Q5_0, 32)
    exp = np.full(32, -16.0, np.float32)
    exp[0] = exp[16] = 0.0
    check(np.array_equal(got, exp), "Q5_0 by hand")
    # Q6_K d = 1, all scales 2, ql = 0, qh = 0 -> every q = -32 -> -64
    blk = bytes(128) + bytes(64) + struct.pack("<16b", *([2] * 16)) + f16b(1.0)
    got = g.dequantize(blk, g.Q6_K, 256)
    check(np.array_equal(got, np.full(256, -64.0, np.float32)), "Q6_K by hand")
    # Q6_K: element 0 gets ql[0] low nibble + qh[0] bits 0-1; scale index 0
    blk = bytearray(blk)
    blk[0] = 0x05           # low nibble 5 -> y[0]; high nibble 0 -> y[64]
    blk[128] = 0x01         # qh bits 0-1 = 1 -> +16 for y[0]
    blk[192] = 3            # sc[0] = 3
    got = g.dequantize(bytes(blk), g.Q6_K, 256)
    check(got[0] == (5 + 16 - 32) * 3.0, "Q6_K element 0 by hand")
    check(got[64] == -32 * 2.0, "Q6_K element 64 by hand")
    # F16 / BF16 / F32
    check(np.array_equal(g.dequantize(f16b(-1.5) + f16b(65504.0), g.F16, 2),
                         np.array([-1.5, 65504.0], np.float32)), "F16")
    bf = struct.pack("<HH", 0x3FC0, 0xC000)  # 1.5, -2.0
    check(np.array_equal(g.dequantize(bf, g.BF16, 2),
                         np.array([1.5, -2.0], np.float32)), "BF16")
    check(np.array_equal(g.dequantize(struct.pack("<2f", 1.25, -3.0), g.F32, 2),
                         np.array([1.25, -3.0], np.float32)), "F32")
    try:
        g.dequantize(bytes(17), g.Q4_0, 32)
        check(False, "short Q4_0 block accepted")
    except g.GGUFError:
        pass


test_round_trip()
test_dequant()
if failures:
    print("%d failure(s)" % failures)
    sys.exit(1)
print("gguf_io: all checks passed")
