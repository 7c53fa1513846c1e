"""Finds the external-data files a serialized ONNX model refers to.

The model's protobuf wire format is walked along the fields that lead to tensors
(graphs, subgraphs, attributes, sparse tensors, functions, training graphs)
instead of being parsed whole: a file is read through a small window that moves
to the parts on the way to a tensor's location, and the bytes of weights are
skipped, never read, so that a large inline model costs no memory in proportion
to its size. onnx is not needed.
"""

import os
import posixpath

# Field numbers of onnx.proto on the paths that lead to tensors.
_MODEL_GRAPH = 7
_MODEL_TRAINING_INFO = 20
_MODEL_FUNCTIONS = 25
_TRAINING_INIT = 1
_TRAINING_ALGORITHM = 2
_GRAPH_NODE = 1
_GRAPH_INITIALIZER = 5
_GRAPH_SPARSE_INIT = 15
_NODE_ATTRIBUTE = 5
_FUNCTION_NODE = 7
_FUNCTION_ATTR_PROTO = 11
_ATTR_T = 5
_ATTR_G = 6
_ATTR_TENSORS = 10
_ATTR_GRAPHS = 11
_ATTR_SPARSE_TENSOR = 22
_ATTR_SPARSE_TENSORS = 23
_SPARSE_VALUES = 1
_SPARSE_INDICES = 2
_TENSOR_EXTERNAL = 13
_TENSOR_LOCATION = 14
_ENTRY_KEY = 1
_ENTRY_VALUE = 2
_LOCATION_EXTERNAL = 1  # TensorProto.DataLocation EXTERNAL

_VARINT, _FIXED64, _BYTES, _START_GROUP, _END_GROUP, _FIXED32 = 0, 1, 2, 3, 4, 5


class WireError(ValueError):
    """The bytes are not a protobuf message."""


def _varint(buf, pos, end):
    x = 0
    shift = 0
    while True:
        if pos >= end:
            raise WireError("unexpected end of input")
        c = buf[pos]
        pos += 1
        if shift == 63 and c > 1:
            raise WireError("varint overflows 64 bits")
        x |= (c & 0x7F) << shift
        if c < 0x80:
            return x, pos
        shift += 7
        if shift > 63:
            raise WireError("varint overflows 64 bits")


def _skip_group(buf, pos, end, num):
    while True:
        tag, pos = _varint(buf, pos, end)
        n, typ = tag >> 3, tag & 7
        if typ == _END_GROUP:
            if n != num:
                raise WireError("mismatched end of group")
            return pos
        pos = _skip_value(buf, pos, end, n, typ)


def _skip_value(buf, pos, end, num, typ):
    if typ == _VARINT:
        _, pos = _varint(buf, pos, end)
    elif typ == _FIXED64:
        pos += 8
    elif typ == _FIXED32:
        pos += 4
    elif typ == _BYTES:
        k, pos = _varint(buf, pos, end)
        pos += k
    elif typ == _START_GROUP:
        pos = _skip_group(buf, pos, end, num)
    else:
        raise WireError("end of group without its start, or a reserved wire type")
    if pos > end:
        raise WireError("unexpected end of input")
    return pos


def _fields(buf, start, end):
    """Yields (number, wire type, value) for each field of buf[start:end]:
    the value of a varint field, the (start, end) span of a length-delimited one,
    None for the others (skipped)."""
    pos = start
    while pos < end:
        tag, pos = _varint(buf, pos, end)
        num, typ = tag >> 3, tag & 7
        if num < 1 or num > (1 << 29) - 1:
            raise WireError("invalid field number %d" % num)
        if typ == _VARINT:
            x, pos = _varint(buf, pos, end)
            yield num, typ, x
        elif typ == _BYTES:
            k, pos = _varint(buf, pos, end)
            if pos + k > end:
                raise WireError("unexpected end of input")
            yield num, typ, (pos, pos + k)
            pos += k
        else:
            pos = _skip_value(buf, pos, end, num, typ)


class _Walker:
    def __init__(self, buf):
        self.buf = buf
        self.seen = set()

    def commit(self, state):
        external, loc = state
        if external and loc:
            self.seen.add(posixpath.normpath(loc))

    def tensor_into(self, span, state):
        # Protobuf merges the occurrences of a singular message field, so the
        # state of one tensor may be built from several: a later data_location
        # or location overrides an earlier one.
        for num, typ, v in _fields(self.buf, *span):
            if num == _TENSOR_LOCATION and typ == _VARINT:
                state[0] = v == _LOCATION_EXTERNAL
            elif num == _TENSOR_EXTERNAL and typ == _BYTES:
                key = value = None
                for n, t, s in _fields(self.buf, *v):
                    if t != _BYTES:
                        continue
                    if n == _ENTRY_KEY:
                        key = bytes(self.buf[s[0]:s[1]])
                    elif n == _ENTRY_VALUE:
                        value = bytes(self.buf[s[0]:s[1]])
                if key == b"location":
                    state[1] = (value or b"").decode("utf-8", "replace")

    def tensor(self, span):
        st = [False, ""]
        self.tensor_into(span, st)
        self.commit(st)

    def sparse_into(self, span, values, indices):
        for num, typ, v in _fields(self.buf, *span):
            if typ != _BYTES:
                continue
            if num == _SPARSE_VALUES:
                self.tensor_into(v, values)
            elif num == _SPARSE_INDICES:
                self.tensor_into(v, indices)

    def sparse(self, span):
        values, indices = [False, ""], [False, ""]
        self.sparse_into(span, values, indices)
        self.commit(values)
        self.commit(indices)

    def attribute(self, span):
        t = [False, ""]
        values, indices = [False, ""], [False, ""]
        for num, typ, v in _fields(self.buf, *span):
            if typ != _BYTES:
                continue
            if num == _ATTR_T:
                self.tensor_into(v, t)
            elif num == _ATTR_TENSORS:
                self.tensor(v)
            elif num in (_ATTR_G, _ATTR_GRAPHS):
                self.graph(v)
            elif num == _ATTR_SPARSE_TENSOR:
                self.sparse_into(v, values, indices)
            elif num == _ATTR_SPARSE_TENSORS:
                self.sparse(v)
        for st in (t, values, indices):
            self.commit(st)

    def node(self, span):
        for num, typ, v in _fields(self.buf, *span):
            if num == _NODE_ATTRIBUTE and typ == _BYTES:
                self.attribute(v)

    def graph(self, span):
        for num, typ, v in _fields(self.buf, *span):
            if typ != _BYTES:
                continue
            if num == _GRAPH_NODE:
                self.node(v)
            elif num == _GRAPH_INITIALIZER:
                self.tensor(v)
            elif num == _GRAPH_SPARSE_INIT:
                self.sparse(v)

    def function(self, span):
        for num, typ, v in _fields(self.buf, *span):
            if typ != _BYTES:
                continue
            if num == _FUNCTION_NODE:
                self.node(v)
            elif num == _FUNCTION_ATTR_PROTO:
                self.attribute(v)

    def training(self, span):
        for num, typ, v in _fields(self.buf, *span):
            if typ == _BYTES and num in (_TRAINING_INIT, _TRAINING_ALGORITHM):
                self.graph(v)

    def model(self):
        for num, typ, v in _fields(self.buf, 0, len(self.buf)):
            if typ != _BYTES:
                continue
            if num == _MODEL_GRAPH:
                self.graph(v)
            elif num == _MODEL_FUNCTIONS:
                self.function(v)
            elif num == _MODEL_TRAINING_INFO:
                self.training(v)


def external_locations(data):
    """Returns the sorted, normalized external-data locations that the tensors of
    a serialized model (bytes-like) point to. Raises WireError if data is not a
    protobuf message."""
    w = _Walker(memoryview(data))
    try:
        w.model()
    except RecursionError:
        raise WireError("messages nested too deeply") from None
    return sorted(w.seen)


class _FileWindow:
    """Indexable view of a file that reads it through one window of WINDOW
    bytes at a time (a memory map would do, but the kernel maps large page-cache
    folios around each touched page, so a walk across a model's tensors would
    map most of its weights)."""

    WINDOW = 64 << 10

    def __init__(self, f, size):
        self.f = f
        self.size = size
        self.start = 0
        self.data = b""

    def _read(self, pos, n):
        self.f.seek(pos)
        return self.f.read(n)

    def __len__(self):
        return self.size

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self._read(i.start, i.stop - i.start)
        j = i - self.start
        if 0 <= j < len(self.data):
            return self.data[j]
        self.start = i
        self.data = self._read(i, self.WINDOW)
        if not self.data:
            raise IndexError(i)
        return self.data[0]


def external_locations_of_file(path):
    """external_locations of the model file at path; only the parts of the file
    on the way to the tensors' locations are read."""
    with open(path, "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        w = _Walker(_FileWindow(f, size))
        try:
            w.model()
        except RecursionError:
            raise WireError("messages nested too deeply") from None
        return sorted(w.seen)
