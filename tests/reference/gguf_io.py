"""GGUF v2/v3 reader and v3 writer for the reference tools (numpy only).

Reader: KV pairs (scalars, strings, arrays), tensor infos, tensor data as
zero-copy numpy views of a memory map, and dequantization of F32, F16, BF16,
Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and Q6_K to float32 following spec §2 (the
float operations are done in float32 in the order the spec states).

Writer: GGUF v3 with KVs (incl. arrays) and F32 tensors, 32-byte alignment.

Shapes: `TensorInfo.ne` is GGUF order (ne0 fastest); numpy arrays returned
by `tensor_f32` have the reversed (row-major) shape.
"""

import mmap
import struct

import numpy as np

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32

# KV value types (spec §1.2)
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, \
    UINT64, INT64, FLOAT64 = range(13)

_SCALAR_FMT = {
    UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I",
    INT32: "<i", FLOAT32: "<f", BOOL: "<?", UINT64: "<Q", INT64: "<q",
    FLOAT64: "<d",
}
_SCALAR_NP = {
    UINT8: np.uint8, INT8: np.int8, UINT16: np.uint16, INT16: np.int16,
    UINT32: np.uint32, INT32: np.int32, FLOAT32: np.float32, BOOL: np.uint8,
    UINT64: np.uint64, INT64: np.int64, FLOAT64: np.float64,
}

# ggml tensor types (spec §2.1): id -> (name, block elements, block bytes)
GGML_TYPES = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34), 10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210),
    30: ("BF16", 1, 2),
}
TYPE_ID = {v[0]: k for k, v in GGML_TYPES.items()}
F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q6_K, BF16 = (
    TYPE_ID[n] for n in
    ("F32", "F16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q6_K", "BF16"))


class GGUFError(ValueError):
    pass


class TensorInfo:
    """One tensor: name, ne (GGUF order), ggml type id, data offset, raw bytes."""

    def __init__(self, name, ne, ttype, offset):
        self.name = name
        self.ne = tuple(ne)
        self.type = ttype
        self.offset = offset
        self.raw = None  # uint8 numpy view into the file, set by the reader

    @property
    def type_name(self):
        return GGML_TYPES[self.type][0]

    @property
    def n_elements(self):
        n = 1
        for x in self.ne:
            n *= x
        return n

    @property
    def nbytes(self):
        _, bs, bb = GGML_TYPES[self.type]
        return self.n_elements // bs * bb

    @property
    def np_shape(self):
        return tuple(reversed(self.ne))


def tensor_nbytes(ne, ttype):
    if ttype not in GGML_TYPES:
        raise GGUFError("unknown ggml type %d" % ttype)
    _, bs, bb = GGML_TYPES[ttype]
    if ne[0] % bs:
        raise GGUFError("ne0 %d not a multiple of block size %d" % (ne[0], bs))
    n = 1
    for x in ne:
        n *= x
    return n // bs * bb


class _Cursor:
    def __init__(self, buf):
        self.buf = buf
        self.pos = 0

    def take(self, n):
        if n < 0 or self.pos + n > len(self.buf):
            raise GGUFError("truncated file at offset %d (need %d bytes)"
                            % (self.pos, n))
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def scalar(self, vtype):
        fmt = _SCALAR_FMT[vtype]
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self):
        n = self.scalar(UINT64)
        return bytes(self.take(n)).decode("utf-8")

    def value(self, vtype):
        if vtype == STRING:
            return self.string()
        if vtype == ARRAY:
            etype = self.scalar(INT32)
            count = self.scalar(UINT64)
            if etype == STRING:
                return [self.string() for _ in range(count)]
            if etype == ARRAY:
                return [self.value(ARRAY) for _ in range(count)]
            if etype not in _SCALAR_NP:
                raise GGUFError("bad array element type %d" % etype)
            dt = np.dtype(_SCALAR_NP[etype]).newbyteorder("<")
            raw = self.take(count * dt.itemsize)
            arr = np.frombuffer(raw, dtype=dt).copy()
            return arr.astype(bool) if etype == BOOL else arr
        if vtype not in _SCALAR_FMT:
            raise GGUFError("bad value type %d" % vtype)
        return self.scalar(vtype)


class GGUFReader:
    """Parses a GGUF v2/v3 file. kv: dict key -> value; kv_types: key ->
    (type, element type or None); tensors: list in file order; by_name."""

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self._mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        buf = memoryview(self._mm)
        c = _Cursor(buf)
        if bytes(c.take(4)) != GGUF_MAGIC:
            raise GGUFError("%s: bad magic" % path)
        self.version = c.scalar(UINT32)
        if self.version not in (2, 3):
            raise GGUFError("%s: unsupported version %d" % (path, self.version))
        n_tensors = c.scalar(INT64)
        n_kv = c.scalar(INT64)
        if n_tensors < 0 or n_kv < 0:
            raise GGUFError("%s: negative counts" % path)
        self.kv = {}
        self.kv_types = {}
        for _ in range(n_kv):
            key = c.string()
            vtype = c.scalar(INT32)
            etype = None
            if vtype == ARRAY:
                etype = struct.unpack("<i", buf[c.pos:c.pos + 4])[0]
            if key in self.kv:
                raise GGUFError("%s: duplicate key %s" % (path, key))
            self.kv[key] = c.value(vtype)
            self.kv_types[key] = (vtype, etype)
        self.alignment = DEFAULT_ALIGNMENT
        if "general.alignment" in self.kv:
            a = self.kv["general.alignment"]
            if self.kv_types["general.alignment"][0] != UINT32 or a == 0 \
                    or a & (a - 1):
                raise GGUFError("%s: bad general.alignment" % path)
            self.alignment = a
        self.tensors = []
        for _ in range(n_tensors):
            name = c.string()
            n_dims = c.scalar(UINT32)
            if not 1 <= n_dims <= 4:
                raise GGUFError("%s: tensor %s has %d dims" % (path, name, n_dims))
            ne = [c.scalar(INT64) for _ in range(n_dims)]
            if any(x < 0 for x in ne):
                raise GGUFError("%s: tensor %s negative dim" % (path, name))
            ttype = c.scalar(INT32)
            offset = c.scalar(UINT64)
            self.tensors.append(TensorInfo(name, ne, ttype, offset))
        self.data_start = _pad(c.pos, self.alignment)
        self.by_name = {}
        for t in self.tensors:
            if t.name in self.by_name:
                raise GGUFError("%s: duplicate tensor %s" % (path, t.name))
            nb = tensor_nbytes(t.ne, t.type)
            if t.offset % self.alignment:
                raise GGUFError("%s: tensor %s misaligned" % (path, t.name))
            start = self.data_start + t.offset
            if start + nb > len(buf):
                raise GGUFError("%s: tensor %s data out of file" % (path, t.name))
            t.raw = np.frombuffer(self._mm, dtype=np.uint8, count=nb,
                                  offset=start)
            self.by_name[t.name] = t

    def tensor_f32(self, name):
        """Dequantized float32 array in numpy (reversed GGUF) shape."""
        t = self.by_name[name]
        return dequantize(t.raw, t.type, t.n_elements).reshape(t.np_shape)

    def get(self, key, default=None):
        return self.kv.get(key, default)


def _pad(n, a):
    return (n + a - 1) // a * a


# ---------------------------------------------------------------- dequant

def _f16(raw_u8_2):
    """(nblocks, 2) uint8 -> (nblocks, 1) float32 via IEEE half."""
    return np.ascontiguousarray(raw_u8_2).view("<f2").astype(np.float32)


def dequantize(raw, ttype, n):
    """Raw bytes (uint8 array or bytes) of n elements of type ttype -> float32[n]."""
    raw = np.frombuffer(raw, dtype=np.uint8) if not isinstance(raw, np.ndarray) \
        else raw.reshape(-1)
    if ttype not in GGML_TYPES:
        raise GGUFError("unknown ggml type %d" % ttype)
    name, bs, bb = GGML_TYPES[ttype]
    if n % bs or raw.size != n // bs * bb:
        raise GGUFError("%s: %d bytes do not hold %d elements" % (name, raw.size, n))
    if ttype == F32:
        return raw.view("<f4").astype(np.float32)
    if ttype == F16:
        return raw.view("<f2").astype(np.float32)
    if ttype == BF16:
        return (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)
    blk = raw.reshape(-1, bb)
    if ttype == Q8_0:
        d = _f16(blk[:, 0:2])
        q = blk[:, 2:34].view(np.int8).astype(np.float32)
        return (q * d).reshape(-1)
    if ttype in (Q4_0, Q4_1):
        d = _f16(blk[:, 0:2])
        qs = blk[:, 2:18] if ttype == Q4_0 else blk[:, 4:20]
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int32)
        if ttype == Q4_0:
            return ((q - 8).astype(np.float32) * d).reshape(-1)
        m = _f16(blk[:, 2:4])
        return (q.astype(np.float32) * d + m).reshape(-1)
    if ttype in (Q5_0, Q5_1):
        d = _f16(blk[:, 0:2])
        hoff = 2 if ttype == Q5_0 else 4
        h = np.ascontiguousarray(blk[:, hoff:hoff + 4]).view("<u4").astype(np.uint64)
        qs = blk[:, hoff + 4:hoff + 20].astype(np.int32)
        j = np.arange(16, dtype=np.uint64)
        h0 = (((h >> j) & 1) << 4).astype(np.int32)
        h1 = (((h >> (j + 16)) & 1) << 4).astype(np.int32)
        q = np.concatenate([(qs & 0x0F) | h0, (qs >> 4) | h1], axis=1)
        if ttype == Q5_0:
            return ((q - 16).astype(np.float32) * d).reshape(-1)
        m = _f16(blk[:, 2:4])
        return (q.astype(np.float32) * d + m).reshape(-1)
    if ttype == Q6_K:
        return _dequant_q6_k(blk)
    raise GGUFError("dequantization of %s not implemented" % name)


def _dequant_q6_k(blk):
    nb = blk.shape[0]
    d = _f16(blk[:, 208:210])                       # (nb, 1)
    sc_all = blk[:, 192:208].view(np.int8).astype(np.float32)
    out = np.empty((nb, 256), dtype=np.float32)
    l = np.arange(32)
    isub = l // 16
    for half in range(2):
        ql = blk[:, 64 * half:64 * half + 64].astype(np.int32)
        qh = blk[:, 128 + 32 * half:128 + 32 * half + 32].astype(np.int32)
        sc = sc_all[:, 8 * half:8 * half + 8]
        q1 = ((ql[:, l] & 0xF) | (((qh[:, l] >> 0) & 3) << 4)) - 32
        q2 = ((ql[:, l + 32] & 0xF) | (((qh[:, l] >> 2) & 3) << 4)) - 32
        q3 = ((ql[:, l] >> 4) | (((qh[:, l] >> 4) & 3) << 4)) - 32
        q4 = ((ql[:, l + 32] >> 4) | (((qh[:, l] >> 6) & 3) << 4)) - 32
        base = 128 * half
        for k, q in enumerate((q1, q2, q3, q4)):
            ds = d * sc[:, isub + 2 * k]            # (d·sc) first, in f32
            out[:, base + 32 * k:base + 32 * k + 32] = ds * q.astype(np.float32)
    return out.reshape(-1)


# ----------------------------------------------------------------- writer

class GGUFWriter:
    """Collects KVs and F32 tensors, then writes a GGUF v3 file.

    add_kv(key, value, vtype[, etype]) with vtype one of the module's type
    constants (ARRAY needs etype). Convenience: add_string, add_u32, add_i32,
    add_f32, add_bool, add_array. add_tensor(name, array) stores float32 with
    ne = reversed numpy shape."""

    def __init__(self, alignment=DEFAULT_ALIGNMENT):
        self.alignment = alignment
        self.kvs = []
        self.tensors = []
        self._keys = set()
        self._names = set()

    def add_kv(self, key, value, vtype, etype=None):
        if key in self._keys:
            raise GGUFError("duplicate key %s" % key)
        if vtype == ARRAY and etype is None:
            raise GGUFError("array %s needs an element type" % key)
        self._keys.add(key)
        self.kvs.append((key, vtype, etype, value))

    def add_string(self, key, v):
        self.add_kv(key, v, STRING)

    def add_u32(self, key, v):
        self.add_kv(key, int(v), UINT32)

    def add_i32(self, key, v):
        self.add_kv(key, int(v), INT32)

    def add_f32(self, key, v):
        self.add_kv(key, float(v), FLOAT32)

    def add_bool(self, key, v):
        self.add_kv(key, bool(v), BOOL)

    def add_array(self, key, values, etype):
        self.add_kv(key, list(values), ARRAY, etype)

    def add_tensor(self, name, array):
        if name in self._names:
            raise GGUFError("duplicate tensor %s" % name)
        a = np.ascontiguousarray(np.asarray(array, dtype=np.float32))
        if not 1 <= a.ndim <= 4:
            raise GGUFError("tensor %s: %d dims" % (name, a.ndim))
        self._names.add(name)
        self.tensors.append((name, a))

    @staticmethod
    def _enc_value(vtype, v, etype=None):
        if vtype == STRING:
            b = v.encode("utf-8")
            return struct.pack("<Q", len(b)) + b
        if vtype == ARRAY:
            out = [struct.pack("<iQ", etype, len(v))]
            if etype in (STRING, ARRAY):
                out += [GGUFWriter._enc_value(etype, x) for x in v]
            else:
                dt = np.dtype(_SCALAR_NP[etype]).newbyteorder("<")
                out.append(np.asarray(v).astype(dt).tobytes())
            return b"".join(out)
        return struct.pack(_SCALAR_FMT[vtype], v)

    def to_bytes(self):
        head = [GGUF_MAGIC, struct.pack("<IQQ", 3, len(self.tensors), len(self.kvs))]
        for key, vtype, etype, v in self.kvs:
            head.append(self._enc_value(STRING, key))
            head.append(struct.pack("<i", vtype))
            head.append(self._enc_value(vtype, v, etype))
        offset = 0
        blobs = []
        for name, a in self.tensors:
            head.append(self._enc_value(STRING, name))
            ne = tuple(reversed(a.shape))
            head.append(struct.pack("<I", len(ne)))
            head.append(struct.pack("<%dq" % len(ne), *ne))
            head.append(struct.pack("<iQ", F32, offset))
            b = a.astype("<f4").tobytes()
            padded = _pad(len(b), self.alignment)
            blobs.append(b + b"\0" * (padded - len(b)))
            offset += padded
        h = b"".join(head)
        h += b"\0" * (_pad(len(h), self.alignment) - len(h))
        return h + b"".join(blobs)

    def write(self, path):
        with open(path, "wb") as f:
            f.write(self.to_bytes())
