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
from ._api import REFERENCE, option_names
from .v1 import quantprep_pb2 as pb

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
    try:
        return int(t)  # a plain number, negative too: the server says what is wrong with it
    except ValueError:
        pass
    num = t.rstrip("kmgti")
    unit = t[len(num):]
    try:
        v = float(num) * _UNITS[unit]
    except (KeyError, ValueError):
        raise argparse.ArgumentTypeError("want 0 or a size like 1048576, 64Mi or 1GiB, got %r" % s) from None
    return int(v)


def _list(s):
    return [v for v in s.split(",") if v]


def _own_flag(g, fd):
    # A flag for an option the reference lacks, from its field of
    # quantprep.v1.Options: new options need no code here. Unset, it takes
    # the server's default; the server checks the value.
    help = "quantprep's own option (see `quantprep preprocess --help`)"
    if fd.label == fd.LABEL_REPEATED:
        g.add_argument("--" + fd.name, type=_list, default=None, metavar="NAME,...", help=help)
    elif fd.type == fd.TYPE_BOOL:
        g.add_argument("--" + fd.name, type=_bool, nargs="?", const=True, default=None, metavar="BOOL", help=help)
    elif fd.type in (fd.TYPE_INT32, fd.TYPE_INT64):
        # A byte count takes the quantprep CLI's sizes (64Mi, 1GiB).
        g.add_argument("--" + fd.name, type=_size if fd.name.endswith("_bytes") else int, default=None, help=help)
    else:
        g.add_argument("--" + fd.name, default=None, help=help)


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
    reference = {name for name, _ in REFERENCE}
    for name in option_names():
        if name not in reference:
            _own_flag(g, pb.Options.DESCRIPTOR.fields_by_name[name])
    g.add_argument("--server", default=None, help="HOST:PORT of a quantprep server (default: $QUANTPREP_SERVER)")
    g.add_argument("--binary", default=None, help="the quantprep binary when there is no server "
                                                  "(default: $QUANTPREP_BIN, else quantprep on PATH)")
    g.add_argument("--shared_dir", default=None, help="with --server: a directory shared with the server (its "
                                                      "--shared_dir, as mounted here); the model and the output pass "
                                                      "through it (default: $QUANTPREP_SHARED_DIR)")
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

    reference = {name for name, _ in REFERENCE}
    own = {name: getattr(args, name) for name in option_names()
           if name not in reference and getattr(args, name) is not None}
    try:
        summary = quant_pre_process(
            args.input, args.output, args.skip_optimization, args.skip_onnx_shape, args.skip_symbolic_shape,
            args.auto_merge, args.int_max, args.guess_output_rank, args.verbose, args.save_as_external_data,
            args.all_tensors_to_one_file, args.external_data_location, args.external_data_size_threshold,
            server=args.server, shared_dir=args.shared_dir, binary=args.binary, progress=progress, timeout=args.timeout, tls=args.tls, tls_ca_file=args.tls_ca_file,
            tls_client_cert_file=args.tls_client_cert_file, tls_client_key_file=args.tls_client_key_file,
            tls_server_name=args.tls_server_name, **own)
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
