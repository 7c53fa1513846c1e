#!/usr/bin/python3
"""Fills the onnx1.12 column of nodetests.tsv: the verdict of the installed
onnx package's onnx.shape_inference.infer_shapes on each backend test case,
judged as the Go test judges (graph outputs' types and value_info cleared, each
output compared with test_data_set_0's expected output). Run once with Debian's
python3-onnx 1.12 from this directory."""
import glob, os, sys
import onnx
from onnx import shape_inference

DATA = "/usr/share/libonnx-testdata/data"
RANK = {"wrong": 0, "error": 1, "missing": 2, "rank_only": 3, "exact": 4}


def verdict(case):
    files = sorted(glob.glob(os.path.join(case, "test_data_set_0", "output_*.pb")),
                   key=lambda s: int(s.rsplit("_", 1)[1][:-3]))
    m = onnx.load(os.path.join(case, "model.onnx"))
    exp = []
    for o, p in zip(m.graph.output, files):
        kind = o.type.WhichOneof("value")
        if kind != "tensor_type":
            exp.append((kind, 0, None))
            continue
        t = onnx.TensorProto()
        with open(p, "rb") as f:
            t.ParseFromString(f.read())
        exp.append((kind, o.type.tensor_type.elem_type or t.data_type, list(t.dims)))
    for o in m.graph.output:
        o.type.Clear()
    del m.graph.value_info[:]
    try:
        inf = shape_inference.infer_shapes(m)
    except Exception:
        return "error"
    v = "exact"

    def worse(w):
        nonlocal v
        if RANK[w] < RANK[v] and (v == "exact" or w == "wrong"):
            v = w
    for o, (kind, elem, dims) in zip(inf.graph.output, exp):
        k = o.type.WhichOneof("value")
        if kind != "tensor_type":
            if k is None:
                worse("missing")
            elif k != kind:
                worse("wrong")
            continue
        if k != "tensor_type" or not o.type.tensor_type.HasField("shape"):
            worse("missing")
            continue
        tt = o.type.tensor_type
        got = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        if len(got) != len(dims) or any(g is not None and g != e for g, e in zip(got, dims)) \
                or (tt.elem_type and tt.elem_type != elem):
            worse("wrong")
        elif None in got:
            worse("rank_only")
    return v


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "nodetests.tsv"
    lines = open(path).read().splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        f = line.split("\t")
        f[4] = verdict(os.path.join(DATA, f[0], f[1]))
        out.append("\t".join(f))
    with open(path, "w") as fh:
        fh.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
