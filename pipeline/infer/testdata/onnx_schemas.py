#!/usr/bin/python3
"""Writes onnx_schemas.tsv: domain, operator and since_version of every
operator schema that the installed onnx package knows (run once with Debian's
python3-onnx; extend the TSV by hand for newer opsets)."""
import onnx.defs

rows = sorted({(s.domain or "ai.onnx", s.name, s.since_version) for s in onnx.defs.get_all_schemas_with_history()})
with open("onnx_schemas.tsv", "w") as f:
    f.write("# domain\top\tsince_version (from onnx %s)\n" % onnx.__version__)
    for d, n, v in rows:
        f.write("%s\t%s\t%d\n" % (d, n, v))
