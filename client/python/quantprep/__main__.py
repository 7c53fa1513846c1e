"""python3 -m quantprep --input IN --output OUT [flags]

The flags of `python -m onnxruntime.quantization.preprocess`, with the same names
and defaults, plus quantprep's own. Bool flags may stand alone (--auto_merge) or
take a value (--skip_optimization True, False, 1, 0), as with the quantprep CLI;
unlike the reference tool, "--skip_optimization False" means false.
"""

import argparse
import json
import logging
import os
import sys

from . import QuantprepError, quant_pre_process

_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _bool(s):
    v = _BOOLS.get(s.lower())
    if v is None:
        raise argparse.ArgumentTypeError("want True or False, got %r" % s)
    return v


_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4,
          "ki": 1 << 10, "mi": 1 << 20, "gi": 1 << 30, "ti": 1 << 40}


def _size(s):
    # The quantprep CLI's sizes: 1048576, 64Mi, 64MiB, 1GB, 1.5Gi.
    t = s.strip().lower()
    if t.endswith("b"):
        t = t[:-1]
    num = t.rstrip("kmgti")
    unit = t[len(num):]
    try:
        v = float(num) * _UNITS[unit]
    except (KeyError, ValueError):
        raise argparse.ArgumentTypeError("want 0 or a size like 1048576, 64Mi or 1GiB, got %r" % s) from None
    if v < 0:
        raise argparse.ArgumentTypeError("must not be negative, got %r" % s)
    return int(v)


def _count(s):
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError("want a whole number, got %r" % s) from None
    if v < 0:
        raise argparse.ArgumentTypeError("must not be negative, got %r" % s)
    return v


def parser():
    p = argparse.ArgumentParser(
        prog="python3 -m quantprep",
        description="Prepare an ONNX model for quantization, as "
                    "`python -m onnxruntime.quantization.preprocess` does: symbolic shape inference, "
                    "graph optimization and ONNX shape inference, each skippable. It runs on the "
                    "quantprep server named by --server or $QUANTPREP_SERVER, else with the quantprep "
                    "binary ($QUANTPREP_BIN or on PATH).")
    p.add_argument("--input", required=True, help="path to the input model file")
    p.add_argument("--output", required=True, help="path to the output model file")

    def flag(name, help):
        p.add_argument("--" + name, type=_bool, nargs="?", const=True, default=False, metavar="BOOL", help=help)

    flag("skip_optimization", "skip graph optimization")
    flag("skip_onnx_shape", "skip ONNX shape inference")
    flag("skip_symbolic_shape", "skip symbolic shape inference")
    flag("auto_merge", "merge symbolic dims when they conflict")
    p.add_argument("--int_max", type=int, default=2**31 - 1,
                   help="largest integer treated as a real value (larger ones mean boundless, as in Slice)")
    flag("guess_output_rank", "give outputs of unknown ops the rank of their first input")
    p.add_argument("--verbose", type=int, default=0, help="0: quiet, 1: warnings, 3: details")
    flag("save_as_external_data", "save the weights as external data")
    flag("all_tensors_to_one_file", "put all external data in one file")
    p.add_argument("--external_data_location", default=None, help="external data file name, relative to the output")
    p.add_argument("--external_data_size_threshold", type=int, default=1024,
                   help="tensors of at least this many bytes go to external data")
    g = p.add_argument_group("quantprep's own flags")
    g.add_argument("--strict_shapes", type=_bool, nargs="?", const=True, default=False, metavar="BOOL",
                   help="fail when an inferred shape conflicts with one already in the model")
    for name, kind in (("max_fold_bytes", _size), ("max_fold_total_bytes", _size), ("max_node_visits", _count),
                       ("max_nodes", _count), ("max_dense_bytes", _size)):
        g.add_argument("--" + name, type=kind, default=0,
                       help="a pipeline budget (see the quantprep CLI); 0: the server's; a server refuses more than its own")
    g.add_argument("--server", default=None, help="HOST:PORT of a quantprep server (default: $QUANTPREP_SERVER)")
    g.add_argument("--binary", default=None, help="the quantprep binary when there is no server "
                                                  "(default: $QUANTPREP_BIN, else quantprep on PATH)")
    g.add_argument("--timeout", type=float, default=None, help="seconds the run may take")
    g.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    g.add_argument("--tls", type=_bool, nargs="?", const=True, default=None, metavar="BOOL",
                   help="use TLS to the server (on when a TLS file is given; default: $QUANTPREP_TLS)")
    g.add_argument("--tls_ca_file", default=None, help="CA certificates that sign the server's certificate")
    g.add_argument("--tls_client_cert_file", default=None, help="the client's certificate, for mutual TLS")
    g.add_argument("--tls_client_key_file", default=None, help="the client certificate's key")
    g.add_argument("--tls_server_name", default=None, help="the name to verify the server's certificate against")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    logging.basicConfig(format="%(name)s: %(levelname)s: %(message)s")
    show = sys.stderr.isatty()

    def progress(e):
        if show:
            print(e, file=sys.stderr)

    try:
        summary = quant_pre_process(
            args.input, args.output, args.skip_optimization, args.skip_onnx_shape, args.skip_symbolic_shape,
            args.auto_merge, args.int_max, args.guess_output_rank, args.verbose, args.save_as_external_data,
            args.all_tensors_to_one_file, args.external_data_location, args.external_data_size_threshold,
            server=args.server, binary=args.binary, strict_shapes=args.strict_shapes, progress=progress,
            max_fold_bytes=args.max_fold_bytes, max_fold_total_bytes=args.max_fold_total_bytes,
            max_node_visits=args.max_node_visits, max_nodes=args.max_nodes, max_dense_bytes=args.max_dense_bytes,
            timeout=args.timeout, tls=args.tls, tls_ca_file=args.tls_ca_file,
            tls_client_cert_file=args.tls_client_cert_file, tls_client_key_file=args.tls_client_key_file,
            tls_server_name=args.tls_server_name)
    except KeyboardInterrupt:
        print("quantprep: interrupted", file=sys.stderr)
        return 130
    except (QuantprepError, OSError, ValueError, TypeError) as e:
        print("quantprep: %s" % e, file=sys.stderr)
        return 1
    if show:
        print("done in %.2fs: %d -> %d nodes, full shapes %d/%d -> %d/%d" % (
            summary.wall_time, summary.nodes_before, summary.nodes_after, summary.full_shapes_before,
            summary.node_outputs_before, summary.full_shapes_after, summary.node_outputs_after), file=sys.stderr)
    if args.json:
        json.dump(summary.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
