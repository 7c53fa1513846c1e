"""Generated code for the quantprep.v1 API (buf generate; do not edit the _pb2 files)."""
