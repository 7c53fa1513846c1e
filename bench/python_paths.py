"""Times the Python client's two ways to a quantprep binary on one model,
alternately: the binary path (quant_pre_process with no server: a child
`quantprep serve` that shares a directory beside the output with the caller,
so the model and the output are linked, not sent) and the same child reached
as a plain server (the model streamed over loopback both ways).

    /usr/bin/python3 bench/python_paths.py MODEL [--binary BIN] [-n RUNS]

BIN defaults to bin/quantprep (scripts/build.sh); the outputs go to a
temporary directory beside MODEL, so that links can work, and are removed.
Prints the median, min and max wall time of each.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "client", "python"))

import quantprep  # noqa: E402
from quantprep._local import LocalServer  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--binary", default=os.path.join(ROOT, "bin", "quantprep"))
    p.add_argument("-n", type=int, default=5, help="runs of each (default 5)")
    a = p.parse_args()
    out = tempfile.mkdtemp(prefix="qp-python-paths-", dir=os.path.dirname(os.path.abspath(a.model)))
    times = {"binary path (shared directory)": [], "streamed to the same serve": []}
    try:
        with LocalServer(a.binary) as srv:
            for _ in range(a.n):
                for kind, v in times.items():
                    o = os.path.join(out, "out.onnx")
                    t = time.monotonic()
                    if kind.startswith("binary"):
                        quantprep.quant_pre_process(a.model, o, binary=a.binary)
                    else:
                        quantprep.quant_pre_process(a.model, o, server=srv.address)
                    v.append(time.monotonic() - t)
                    os.remove(o)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print("model: %s, %d runs each, alternating; load average %s" % (a.model, a.n, os.getloadavg()))
    for kind, v in times.items():
        print("%-32s median %.2f s (%.2f - %.2f)" % (kind, statistics.median(v), min(v), max(v)))


if __name__ == "__main__":
    main()
