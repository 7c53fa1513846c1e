#!/usr/bin/python3
"""Prints onnx_schemas.tsv: the domain, operator, since_version and max_output
of every operator schema in the installed onnx package's history, the versions
at which ONNX changed each operator, and how many outputs a node may have
there. Run with Debian's python3-onnx 1.12:

    python3 onnx_schemas.py > onnx_schemas.tsv

The opset test (opsettest.TestSchemasFresh) runs it and compares. Versions
after ONNX 1.12 are in onnx_schemas_later.tsv, written by hand."""
import sys

import onnx
import onnx.defs

rows = sorted({(s.domain or "ai.onnx", s.name, s.since_version, s.max_output)
               for s in onnx.defs.get_all_schemas_with_history()})
out = sys.stdout
out.write("# domain\top\tsince_version\tmax_output (from onnx %s, by onnx_schemas.py)\n" % onnx.__version__)
for d, n, v, m in rows:
    out.write("%s\t%s\t%d\t%d\n" % (d, n, v, m))
