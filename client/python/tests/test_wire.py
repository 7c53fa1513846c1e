"""What the client puts on the wire, seen by a recording fake server written
here: every argument and CLI flag reaches Options, the upload's order and
chunks, and TLS (server-authenticated and mutual)."""

import contextlib
import io
import os
import shutil
import tempfile
import unittest
from concurrent import futures

from helpers import environ, make_certs, require_deps

require_deps()

import grpc  # noqa: E402

import quantprep  # noqa: E402
from quantprep.__main__ import main as cli_main  # noqa: E402
from quantprep.v1 import quantprep_pb2 as pb  # noqa: E402
from quantprep.v1 import quantprep_pb2_grpc as pb_grpc  # noqa: E402

OUTPUT = b"output model bytes"


class Recorder(pb_grpc.PreprocessServiceServicer):
    """Keeps each call's requests; answers with a progress event, a fixed
    model, one external file and a summary."""

    def __init__(self):
        self.calls = []
        self.refuse = []  # (code, message) to end the next calls with, in order

    def Preprocess(self, request_iterator, context):
        reqs = list(request_iterator)
        self.calls.append(reqs)
        if self.refuse:
            code, message = self.refuse.pop(0)
            context.abort(code, message)
        yield pb.PreprocessResponse(progress=pb.Progress(step="tag", phase=pb.Progress.PHASE_STARTED, index=1, total=1))
        yield pb.PreprocessResponse(model_chunk=pb.Chunk(data=OUTPUT[:5]))
        yield pb.PreprocessResponse(model_chunk=pb.Chunk(data=OUTPUT[5:]))
        yield pb.PreprocessResponse(external_data_chunk=pb.ExternalDataChunk(location="sub/w.bin", data=b"w"))
        yield pb.PreprocessResponse(summary=pb.Summary(
            nodes_before=3, nodes_after=2, warnings=["careful"],
            steps=[pb.StepSummary(name="tag", counts={"tags": 1})],
            files=[pb.OutputFile(name="out.onnx", size=len(OUTPUT)), pb.OutputFile(name="sub/w.bin", size=1, external_data=True)]))


@contextlib.contextmanager
def fake_server(creds=None):
    rec = Recorder()
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_PreprocessServiceServicer_to_server(rec, srv)
    if creds is None:
        port = srv.add_insecure_port("127.0.0.1:0")
    else:
        port = srv.add_secure_port("127.0.0.1:0", creds)
    srv.start()
    try:
        yield rec, "127.0.0.1:%d" % port
    finally:
        srv.stop(None)


def _plain(v):
    # A repeated field as a list, for comparing.
    return v if isinstance(v, (bool, int, str)) else list(v)


def model_with_external(d):
    """A model file whose initializer is in ext/w.bin, with that file."""
    from helpers import ext_tensor, field
    os.makedirs(os.path.join(d, "ext"))
    with open(os.path.join(d, "ext", "w.bin"), "wb") as f:
        f.write(b"x" * 10000)
    with open(os.path.join(d, "empty.bin"), "wb"):
        pass
    data = field(1, 8) + field(7, field(5, ext_tensor("w", "ext/w.bin")) + field(5, ext_tensor("e", "empty.bin")))
    p = os.path.join(d, "in.onnx")
    with open(p, "wb") as f:
        f.write(data)
    return p, data


class WireTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="quantprep-pytest-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.src, self.data = model_with_external(self.dir)
        self.out = os.path.join(self.dir, "out", "out.onnx")

    def test_every_argument(self):
        positional = ["skip_optimization", "skip_onnx_shape", "skip_symbolic_shape", "auto_merge", "int_max",
                      "guess_output_rank", "verbose", "save_as_external_data", "all_tensors_to_one_file",
                      "external_data_location", "external_data_size_threshold"]
        # quantprep's own: every other field of Options, by name.
        keyword = [n for n in quantprep.option_names() if n not in positional]
        self.assertIn("disabled_optimizers", keyword)
        values = {"int_max": 12345, "verbose": 3, "external_data_location": "data/w.bin",
                  "external_data_size_threshold": 99, "max_fold_bytes": 1 << 20, "max_fold_total_bytes": 2 << 20,
                  "max_node_visits": 300, "max_nodes": 40, "max_dense_bytes": 5 << 20,
                  "disabled_optimizers": ["EliminateIdentity"]}
        with fake_server() as (rec, addr):
            base = dict(server=addr)
            quantprep.quant_pre_process(self.src, self.out, **base)
            default = rec.calls[-1][0].options
            self.assertEqual((default.model_name, default.output_name), ("in.onnx", "out.onnx"))
            self.assertEqual((default.int_max, default.external_data_size_threshold), (2**31 - 1, 1024))
            defaults = _defaults(positional)
            for i, name in enumerate(positional + keyword):
                value = values.get(name, _some_value(name))
                with self.subTest(name):
                    # Positionally, in the reference's order; quantprep's own are keyword-only.
                    args = list(defaults)
                    kw = dict(base)
                    if name in keyword:
                        kw[name] = value
                    else:
                        args[i] = value
                    if name == "external_data_location":
                        args[positional.index("save_as_external_data")] = True
                    quantprep.quant_pre_process(self.src, self.out, *args, **kw)
                    got = rec.calls[-1][0].options
                    self.assertEqual(_plain(getattr(got, name)), value)
                    changed = {f.name for f in pb.Options.DESCRIPTOR.fields
                               if _plain(getattr(got, f.name)) != _plain(getattr(default, f.name))}
                    want = {name} | ({"save_as_external_data"} if name == "external_data_location" else set())
                    self.assertEqual(changed, want)

    def test_cli_flags(self):
        cases = [
            (["--skip_optimization"], "skip_optimization", True),
            (["--skip_optimization", "True"], "skip_optimization", True),
            (["--skip_optimization", "False"], "skip_optimization", False),
            (["--skip_onnx_shape", "1"], "skip_onnx_shape", True),
            (["--skip_symbolic_shape=true"], "skip_symbolic_shape", True),
            (["--auto_merge"], "auto_merge", True),
            (["--int_max", "77"], "int_max", 77),
            (["--guess_output_rank"], "guess_output_rank", True),
            (["--verbose", "1"], "verbose", 1),
            (["--save_as_external_data"], "save_as_external_data", True),
            (["--all_tensors_to_one_file"], "all_tensors_to_one_file", True),
            (["--save_as_external_data", "--external_data_location", "x.bin"], "external_data_location", "x.bin"),
            (["--external_data_size_threshold", "7"], "external_data_size_threshold", 7),
            (["--strict_shapes"], "strict_shapes", True),
            (["--max_fold_bytes", "64Mi"], "max_fold_bytes", 64 << 20),
            (["--max_fold_total_bytes", "1GB"], "max_fold_total_bytes", 10**9),
            (["--max_node_visits", "1000"], "max_node_visits", 1000),
            (["--max_nodes", "20"], "max_nodes", 20),
            (["--max_dense_bytes=1048576"], "max_dense_bytes", 1 << 20),
            (["--disabled_optimizers", "EliminateIdentity,ConstantFolding"], "disabled_optimizers",
             ["EliminateIdentity", "ConstantFolding"]),
        ]
        with fake_server() as (rec, addr):
            for flags, name, value in cases:
                with self.subTest(" ".join(flags)):
                    stdout, stderr = io.StringIO(), io.StringIO()
                    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                        rc = cli_main(["--input", self.src, "--output", self.out, "--server", addr, "--json"] + flags)
                    self.assertEqual(rc, 0, stderr.getvalue())
                    self.assertEqual(_plain(getattr(rec.calls[-1][0].options, name)), value)
                    self.assertIn('"nodes_before": 3', stdout.getvalue())

    def test_values_are_the_servers_to_check(self):
        # A negative budget, say, goes on the wire as given, from the API and
        # the CLI alike: the server refuses it in the quantprep CLI's words
        # (test_service), with one rule set for every client.
        with fake_server() as (rec, addr):
            for name in ("max_fold_bytes", "max_nodes"):
                with self.subTest(name):
                    quantprep.quant_pre_process(self.src, self.out, server=addr, **{name: -1})
                    self.assertEqual(getattr(rec.calls[-1][0].options, name), -1)
                    with contextlib.redirect_stdout(io.StringIO()):
                        rc = cli_main(["--input", self.src, "--output", self.out, "--server", addr, "--" + name, "-1"])
                    self.assertEqual(rc, 0)
                    self.assertEqual(getattr(rec.calls[-1][0].options, name), -1)

    def test_cli_has_the_reference_flags(self):
        # python -m onnxruntime.quantization.preprocess's flags and defaults.
        reference = {"input": None, "output": None, "skip_optimization": False, "skip_onnx_shape": False,
                     "skip_symbolic_shape": False, "auto_merge": False, "int_max": 2**31 - 1,
                     "guess_output_rank": False, "verbose": 0, "save_as_external_data": False,
                     "all_tensors_to_one_file": False, "external_data_location": None,
                     "external_data_size_threshold": 1024}
        from quantprep.__main__ import parser
        actions = {a.dest: a for a in parser()._actions}
        for name, default in reference.items():
            with self.subTest(name):
                self.assertIn(name, actions)
                self.assertEqual(actions[name].option_strings, ["--" + name])
                self.assertEqual(actions[name].default, default)

    def test_upload_and_download(self):
        events, transfers = [], []
        with fake_server() as (rec, addr):
            s = quantprep.quant_pre_process(self.src, self.out, server=addr, chunk_size=4096,
                                            progress=events.append, transfer=transfers.append)
        reqs = rec.calls[-1]
        self.assertEqual(reqs[0].WhichOneof("payload"), "options")
        self.assertEqual(b"".join(r.model_chunk.data for r in reqs if r.WhichOneof("payload") == "model_chunk"), self.data)
        ext = [r.external_data_chunk for r in reqs if r.WhichOneof("payload") == "external_data_chunk"]
        # Sorted by location; the empty file still gets one chunk; 10000 bytes in 4096-byte chunks.
        self.assertEqual([(c.location, len(c.data)) for c in ext], [("empty.bin", 0), ("ext/w.bin", 4096),
                                                                     ("ext/w.bin", 4096), ("ext/w.bin", 1808)])
        with open(self.out, "rb") as f:
            self.assertEqual(f.read(), OUTPUT)
        with open(os.path.join(self.dir, "out", "sub", "w.bin"), "rb") as f:
            self.assertEqual(f.read(), b"w")
        self.assertEqual(sorted(os.listdir(os.path.join(self.dir, "out"))), ["out.onnx", "sub"])
        self.assertEqual(s.nodes_before, 3)
        self.assertEqual(s.steps[0].counts, {"tags": 1})
        self.assertEqual([f.name for f in s.files], ["out.onnx", "sub/w.bin"])
        self.assertEqual([str(e) for e in events], ["[1/1] tag started"])
        self.assertEqual([(t.direction, t.name, t.done) for t in transfers if t.direction == "download"],
                         [("download", "out.onnx", 5), ("download", "out.onnx", len(OUTPUT)), ("download", "sub/w.bin", 1)])
        self.assertEqual(transfers[0], quantprep.Transfer("upload", "in.onnx", len(self.data), len(self.data)))

    def test_retries(self):
        busy = (grpc.StatusCode.RESOURCE_EXHAUSTED, "server busy: 4 requests already open; retry later")
        down = (grpc.StatusCode.UNAVAILABLE, "server shutting down")
        big = (grpc.StatusCode.RESOURCE_EXHAUSTED, "upload too large: the upload exceeds the server's limit of 10 bytes")
        cases = [
            ("busy then down then served", [busy, down], {}, None, 3),
            ("no retries", [busy], {"retries": 0}, quantprep.ResourceExhaustedError, 1),
            ("too many", [busy] * 3, {"retries": 2}, quantprep.ResourceExhaustedError, 3),
            ("oversize is final", [big], {}, quantprep.ResourceExhaustedError, 1),
            ("within the timeout", [busy] * 3, {"timeout": 0.2}, quantprep.ResourceExhaustedError, 1),
        ]
        for name, refuse, kw, exc, calls in cases:
            with self.subTest(name), fake_server() as (rec, addr):
                rec.refuse = list(refuse)
                if exc is None:
                    quantprep.quant_pre_process(self.src, self.out, server=addr, **kw)
                else:
                    with self.assertRaises(exc):
                        quantprep.quant_pre_process(self.src, self.out, server=addr, **kw)
                self.assertEqual(len(rec.calls), calls)

    def test_server_from_environment(self):
        with fake_server() as (rec, addr):
            with environ(QUANTPREP_SERVER=addr):
                quantprep.quant_pre_process(self.src, self.out)
            self.assertEqual(len(rec.calls), 1)

    def test_tls(self):
        certs = make_certs(self.dir)
        if certs is None:
            self.skipTest("openssl is not installed")
        c = {}
        for k, v in certs.items():
            with open(v, "rb") as f:
                c[k] = f.read()
        mutual = grpc.ssl_server_credentials([(c["server_key"], c["server_cert"])], root_certificates=c["ca"],
                                             require_client_auth=True)
        with fake_server(mutual) as (rec, addr):
            addr = addr.replace("127.0.0.1", "localhost")
            quantprep.quant_pre_process(self.src, self.out, server=addr, tls_ca_file=certs["ca"],
                                        tls_client_cert_file=certs["client_cert"], tls_client_key_file=certs["client_key"])
            self.assertEqual(len(rec.calls), 1)
            with self.assertRaises(quantprep.UnavailableError):  # no client certificate
                quantprep.quant_pre_process(self.src, self.out, server=addr, tls_ca_file=certs["ca"], timeout=10,
                                            retries=0)
            with self.assertRaises(quantprep.UnavailableError):  # plaintext to a TLS server
                quantprep.quant_pre_process(self.src, self.out, server=addr, timeout=10, retries=0)
            with self.assertRaisesRegex(ValueError, "go together"):
                quantprep.quant_pre_process(self.src, self.out, server=addr, tls_client_cert_file=certs["client_cert"])
            # From the environment, as a platform sets it for unchanged code.
            with environ(QUANTPREP_TLS_CA_FILE=certs["ca"], QUANTPREP_TLS_CLIENT_CERT_FILE=certs["client_cert"],
                         QUANTPREP_TLS_CLIENT_KEY_FILE=certs["client_key"], QUANTPREP_SERVER=addr):
                quantprep.quant_pre_process(self.src, self.out)
            self.assertEqual(len(rec.calls), 2)
        server_only = grpc.ssl_server_credentials([(c["server_key"], c["server_cert"])])
        with fake_server(server_only) as (rec, addr):
            quantprep.quant_pre_process(self.src, self.out, server=addr, tls_ca_file=certs["ca"],
                                        tls_server_name="localhost")
            self.assertEqual(len(rec.calls), 1)


def _some_value(name):
    # A value of the option's field other than its default (the fake server
    # takes any): a new option needs no entry in the tests' tables.
    fd = pb.Options.DESCRIPTOR.fields_by_name[name]
    if fd.label == fd.LABEL_REPEATED:
        return ["x"]
    return {fd.TYPE_BOOL: True, fd.TYPE_STRING: "x.bin"}.get(fd.type, 77)


def _defaults(names):
    import inspect
    params = inspect.signature(quantprep.quant_pre_process).parameters
    return [params[n].default for n in names]


class StatusTest(unittest.TestCase):
    """Which exception a call's final status becomes."""

    class Err(grpc.RpcError):
        def __init__(self, code, details):
            self._code, self._details = code, details

        def code(self):
            return self._code

        def details(self):
            return self._details

    def test_from_rpc_error(self):
        import time
        from quantprep import errors
        now = time.monotonic()
        rst = "Received RST_STREAM with error code 8"
        cases = [
            # A server whose deadline fired first resets the stream; the
            # client's own timer may not have fired yet: still a timeout.
            ("cancelled after the deadline", grpc.StatusCode.CANCELLED, rst, now - 1, quantprep.DeadlineExceededError),
            ("cancelled before the deadline", grpc.StatusCode.CANCELLED, rst, now + 60, quantprep.CancelledError),
            ("cancelled without a deadline", grpc.StatusCode.CANCELLED, rst, None, quantprep.CancelledError),
            ("deadline exceeded", grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded", now - 1,
             quantprep.DeadlineExceededError),
            ("invalid after the deadline", grpc.StatusCode.INVALID_ARGUMENT, "bad", now - 1,
             quantprep.InvalidArgumentError),
            ("unknown code", grpc.StatusCode.DATA_LOSS, "lost", None, quantprep.InternalError),
        ]
        for name, code, details, deadline, want in cases:
            with self.subTest(name):
                got = errors.from_rpc_error(self.Err(code, details), deadline)
                self.assertIs(type(got), want)
                self.assertIn(details, got.message)
                self.assertIsInstance(got, quantprep.QuantprepError)


if __name__ == "__main__":
    unittest.main()
