#!/usr/bin/python3
"""Prints "BYTES HAS_EXTERNAL" for the ONNX model at argv[1]: the size of the model
file plus every external data file it names, and 1 if it names any, else 0. It
reads no tensor data (onnx.load with load_external_data=False). bench/run.sh and
bench/compare.sh use it."""
import os
import sys

import onnx


def main(path):
    m = onnx.load(path, load_external_data=False)
    files = set()

    def walk(g):
        for t in g.initializer:
            if t.data_location == onnx.TensorProto.EXTERNAL:
                files.update(e.value for e in t.external_data if e.key == "location")
        for n in g.node:
            for a in n.attribute:
                if a.g.ByteSize():
                    walk(a.g)
                for s in a.graphs:
                    walk(s)

    walk(m.graph)
    d = os.path.dirname(path)
    size = os.path.getsize(path) + sum(os.path.getsize(os.path.join(d, f)) for f in files)
    print(size, 1 if files else 0)


if __name__ == "__main__":
    main(sys.argv[1])
