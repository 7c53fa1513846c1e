#!/usr/bin/python3
"""Writes onnx_schemas.tsv: domain, operator and since_version of every
operator schema that the installed onnx package knows (run once with Debian's
python3-onnx 1.12). The rows for later releases (ai.onnx 18-27, ai.onnx.ml
4-5, up to ONNX 1.22) were added by hand from ONNX's operator set
definitions; rerunning this with 1.12 drops them, so merge instead."""
import onnx.defs

rows = sorted({(s.domain or "ai.onnx", s.name, s.since_version) for s in onnx.defs.get_all_schemas_with_history()})
with open("onnx_schemas.tsv", "w") as f:
    f.write("# domain\top\tsince_version (from onnx %s)\n" % onnx.__version__)
    for d, n, v in rows:
        f.write("%s\t%s\t%d\n" % (d, n, v))
