#!/usr/bin/python3
"""Derives lstm-tagger-small.onnx from the full-size LSTM tagger.

The full tagger (a PyTorch 1.13 export at opset 17: embedding Gather, initial
states built from the input's shape with ConstantOfShape, the Slice/Concat
subgraphs that reorder PyTorch's gate order (i, f, g, o) into ONNX's (i, o, f, c),
a 2-layer bidirectional LSTM and a linear layer, dynamic batch and sequence) is
12 MB. This script keeps its graph node for node and shrinks only the sizes:

  hidden 256 -> HIDDEN, embedding 128 -> EMBED, vocabulary 5000 -> VOCAB.

Every int64 constant that is a multiple of the hidden size used for gate slicing
(H, 3H, 4H) and the state shape's hidden dim are rewritten, and the LSTM nodes'
hidden_size attribute. Weights are the leading block of each gate of the original
weights, rescaled by sqrt(256 / HIDDEN) so that they keep PyTorch's
U(-1/sqrt(hidden), 1/sqrt(hidden)) init range at the new size.

Usage (Debian's python3-onnx and python3-numpy):
  /usr/bin/python3 testdata/models/make_lstm_small.py lstm-tagger.onnx testdata/models/lstm-tagger-small.onnx
"""
import math
import sys

import numpy as np
import onnx
from onnx import numpy_helper

FULL_HIDDEN, FULL_EMBED, FULL_VOCAB = 256, 128, 5000
HIDDEN, EMBED, VOCAB = 32, 32, 1000


def shrink_weight(name, w):
    """Returns the small version of initializer `name` (original value w)."""
    H, h = FULL_HIDDEN, HIDDEN
    lstm_scale = math.sqrt(H / h)
    if name == "emb.weight":
        assert w.shape == (FULL_VOCAB, FULL_EMBED), w.shape
        return w[:VOCAB, :EMBED]
    if name == "out.weight":
        # [tags, 2H] with the forward half first, then the reverse half.
        tags = w.shape[0]
        return (w.reshape(tags, 2, H)[:, :, :h] * math.sqrt(2 * H / (2 * h))).reshape(tags, 2 * h)
    if name == "out.bias":
        return w * math.sqrt(2 * H / (2 * h))
    if name.startswith("lstm."):
        kind = name.split(".")[1].split("_")  # weight ih l0 [reverse]
        layer = int(kind[2][1:])
        gates = w.reshape(4, H, *w.shape[1:])[:, :h]
        if kind[0] == "bias":
            return (gates * lstm_scale).reshape(4 * h)
        if kind[1] == "hh":
            return (gates[:, :, :h] * lstm_scale).reshape(4 * h, h)
        if layer == 0:
            return (gates[:, :, :EMBED] * lstm_scale).reshape(4 * h, EMBED)
        # Layer 1 reads the concatenated forward and reverse outputs of layer 0.
        return (gates.reshape(4, h, 2, H)[:, :, :, :h] * lstm_scale).reshape(4 * h, 2 * h)
    raise SystemExit(f"unexpected initializer {name!r}")


def main(src, dst):
    m = onnx.load(src)
    g = m.graph
    for i, t in enumerate(g.initializer):
        small = shrink_weight(t.name, numpy_helper.to_array(t)).astype(np.float32)
        g.initializer[i].CopyFrom(numpy_helper.from_array(np.ascontiguousarray(small), t.name))

    remap = {FULL_HIDDEN: HIDDEN, 3 * FULL_HIDDEN: 3 * HIDDEN, 4 * FULL_HIDDEN: 4 * HIDDEN}
    rewritten = 0
    for n in g.node:
        for a in n.attribute:
            if n.op_type == "LSTM" and a.name == "hidden_size":
                assert a.i == FULL_HIDDEN
                a.i = HIDDEN
            if n.op_type == "Constant" and a.name == "value" and a.t.data_type == onnx.TensorProto.INT64:
                v = numpy_helper.to_array(a.t)
                if v.size == 1 and int(v.ravel()[0]) in remap:
                    nv = np.array(remap[int(v.ravel()[0])], dtype=np.int64).reshape(v.shape)
                    a.t.CopyFrom(numpy_helper.from_array(nv, a.t.name))
                    rewritten += 1
    for n in g.node:
        for a in n.attribute:
            if a.name == "value" and a.t.data_type == onnx.TensorProto.INT64:
                v = numpy_helper.to_array(a.t)
                left = {FULL_HIDDEN, 2 * FULL_HIDDEN, 3 * FULL_HIDDEN, 4 * FULL_HIDDEN} & set(v.ravel().tolist())
                assert not left, f"{n.output[0]} still holds {left}"
    # PyTorch 1.13 writes no value_info and leaves the output's feature dim static.
    assert not g.value_info
    m.doc_string = (f"Derived from the 2-layer bidirectional LSTM tagger by make_lstm_small.py: "
                    f"hidden {HIDDEN}, embedding {EMBED}, vocabulary {VOCAB}.")
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, dst)
    print(f"{dst}: {rewritten} constants rewritten, {len(g.node)} nodes")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
