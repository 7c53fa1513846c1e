"""quant_pre_process against a real `quantprep serve` started here and against
the binary path (no server: the binary runs the call in a subprocess)."""

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

import helpers
from helpers import MODELS, REPO, field, files_under, go_cli, require_deps

require_deps()

import quantprep  # noqa: E402
from quantprep._local import LocalServer  # noqa: E402

# The committed models, and the output modes they are compared in.
MODEL_NAMES = sorted(p.stem for p in MODELS.glob("*.onnx"))
EXTERNAL = ["--save_as_external_data", "--all_tensors_to_one_file", "--external_data_location", "weights.bin",
            "--external_data_size_threshold", "512"]
EXTERNAL_KW = dict(save_as_external_data=True, all_tensors_to_one_file=True, external_data_location="weights.bin",
                   external_data_size_threshold=512)

_server = None
_server_tmp = None
_shared = None  # the server's --shared_dir


def setUpModule():
    global _server, _server_tmp, _shared
    _server_tmp = tempfile.mkdtemp(prefix="quantprep-pytest-spool-")
    _shared = tempfile.mkdtemp(prefix="quantprep-pytest-shared-")
    _server = LocalServer(helpers.binary(), temp_dir=_server_tmp,
                          extra_args=["--workers", "2", "--queue_size", "4", "--shared_dir", _shared])
    _server.__enter__()


def tearDownModule():
    if _server is not None:
        _server.__exit__(None, None, None)
    shutil.rmtree(_server_tmp, ignore_errors=True)
    shutil.rmtree(_shared, ignore_errors=True)
    helpers.cleanup_binary()


class Case(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="quantprep-pytest-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def path(self, *parts):
        p = os.path.join(self.dir, *parts)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    def go(self, src, out, *flags):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        r = go_cli(["preprocess", "--input", str(src), "--output", out] + list(flags))
        self.assertEqual(r.returncode, 0, r.stderr)

    def assertSameFiles(self, want_dir, got_dir):
        want, got = files_under(want_dir), files_under(got_dir)
        self.assertEqual(sorted(got), sorted(want))
        for name in want:
            self.assertTrue(got[name] == want[name], "%s differs from the Go CLI's" % name)

    def assertEmptyDir(self, d):
        self.assertEqual(os.listdir(d) if os.path.isdir(d) else [], [], "files left in %s" % d)


class SameAsGoCLITest(Case):
    """The Python client's output is byte-identical to the Go CLI's, through a
    server (streamed, and through its shared directory) and through the binary
    path, inline and with external data."""

    def run_all(self, src, flags, kw):
        self.go(src, self.path("go", "out.onnx"), *flags)
        s1 = quantprep.quant_pre_process(src, self.path("server", "out.onnx"), server=_server.address, **kw)
        self.assertSameFiles(self.path("go"), self.path("server"))
        s3 = quantprep.quant_pre_process(src, self.path("shared", "out.onnx"), server=_server.address,
                                         shared_dir=_shared, **kw)
        self.assertSameFiles(self.path("go"), self.path("shared"))
        self.assertEmptyDir(_shared)
        # No server: the binary named by QUANTPREP_BIN runs the call.
        with helpers.environ(QUANTPREP_SERVER=None, QUANTPREP_BIN=helpers.binary()):
            s2 = quantprep.quant_pre_process(Path(src), Path(self.path("binary", "out.onnx")), **kw)
        self.assertSameFiles(self.path("go"), self.path("binary"))
        for s in (s1, s2, s3):
            self.assertIsInstance(s, quantprep.Summary)
            self.assertEqual([f.name for f in s.files][0], "out.onnx")
            self.assertEqual(sorted(f.name for f in s.files),
                             sorted(n.replace(os.sep, "/") for n in files_under(self.path("go"))))
        return s1

    def test_models(self):
        for name in MODEL_NAMES:
            for mode, flags, kw in (("inline", [], {}), ("external", EXTERNAL, EXTERNAL_KW)):
                with self.subTest(model=name, mode=mode):
                    self.setUp()
                    s = self.run_all(str(MODELS / (name + ".onnx")), flags, kw)
                    self.assertGreater(s.nodes_before, 0)
                    self.assertEqual(len(s.files) > 1, mode == "external")

    def test_external_data_input(self):
        # The input has its weights in external files (one per tensor, in a
        # subdirectory's sibling layout the model names): they are uploaded too.
        src = self.path("in", "model.onnx")
        self.go(MODELS / "cnn-tiny.onnx", src, "--skip_optimization", "--skip_onnx_shape", "--skip_symbolic_shape",
                "--save_as_external_data", "--external_data_size_threshold", "256")
        locs = quantprep.external_locations_of_file(src)
        self.assertGreater(len(locs), 2)
        self.assertEqual(sorted(locs), sorted(n for n in os.listdir(self.path("in")) if n != "model.onnx"))
        self.run_all(src, [], {})
        for d in ("go", "server", "shared", "binary"):
            shutil.rmtree(self.path(d))
        self.run_all(src, EXTERNAL, EXTERNAL_KW)

    @unittest.skipUnless(helpers.have_onnx(), "onnx is not installed")
    def test_model_proto_input(self):
        import onnx
        src = MODELS / "cnn-tiny.onnx"
        self.go(src, self.path("go", "out.onnx"))
        quantprep.quant_pre_process(onnx.load(str(src)), self.path("server", "out.onnx"), server=_server.address)
        self.assertSameFiles(self.path("go"), self.path("server"))
        ext = self.path("ext", "model.onnx")
        self.go(src, ext, "--skip_optimization", "--save_as_external_data")
        with self.assertRaisesRegex(ValueError, "external data"):
            quantprep.quant_pre_process(onnx.load(ext, load_external_data=False), self.path("x", "out.onnx"),
                                        server=_server.address)
        quantprep.quant_pre_process(input_model=onnx.load(ext), output_model_path=self.path("y", "out.onnx"),
                                    server=_server.address)
        self.assertTrue(os.path.isfile(self.path("y", "out.onnx")))


class FlagsTest(Case):
    """Every argument reaches the server: each changes the output or the
    summary the way the Go CLI's flag does."""

    def test_visible_flags(self):
        # The flags that change these models' output give the Go CLI's output
        # through the server; the others are checked on the wire (test_wire.py).
        src = MODELS / "cnn-tiny.onnx"
        cases = [
            ("skip_optimization", {"skip_optimization": True}, ["--skip_optimization"]),
            ("skip_onnx_shape", {"skip_onnx_shape": True}, ["--skip_onnx_shape"]),
            ("skip_symbolic_shape", {"skip_symbolic_shape": True}, ["--skip_symbolic_shape"]),
            ("external data", {"save_as_external_data": True}, ["--save_as_external_data"]),
            ("one file", {"save_as_external_data": True, "all_tensors_to_one_file": True},
             ["--save_as_external_data", "--all_tensors_to_one_file"]),
            ("location", dict(EXTERNAL_KW), EXTERNAL),
            ("threshold", {"save_as_external_data": True, "external_data_size_threshold": 4096},
             ["--save_as_external_data", "--external_data_size_threshold", "4096"]),
        ]
        summary = quantprep.quant_pre_process(src, self.path("default", "out.onnx"), server=_server.address)
        self.assertFalse(any(st.skipped for st in summary.steps))
        default = files_under(self.path("default"))
        outputs = []
        for name, kw, flags in cases:
            with self.subTest(name):
                d = self.path(name.replace(" ", "-"))
                self.go(src, os.path.join(d, "go", "out.onnx"), *flags)
                s = quantprep.quant_pre_process(src, os.path.join(d, "py", "out.onnx"), server=_server.address, **kw)
                self.assertSameFiles(os.path.join(d, "go"), os.path.join(d, "py"))
                # The skip flags show in the summary; the external-data ones in the files.
                got = files_under(os.path.join(d, "py"))
                if kw.get("save_as_external_data"):
                    self.assertTrue(got != default and got not in outputs, "output as without %s" % name)
                    outputs.append(got)
                skipped = {st.name for st in s.steps if st.skipped}
                for flag, step in (("skip_optimization", "optimize"), ("skip_onnx_shape", "onnx_shape"),
                                   ("skip_symbolic_shape", "symbolic_shape")):
                    self.assertEqual(step in skipped, kw.get(flag, False), step)

    def test_options_on_the_wire(self):
        o = quantprep.build_options("in.onnx", "out.onnx", True, True, True, True, 77, True, 1, True, True, "w.bin", 5,
                                    strict_shapes=True)
        self.assertEqual((o.model_name, o.output_name, o.skip_optimization, o.skip_onnx_shape, o.skip_symbolic_shape,
                          o.auto_merge, o.int_max, o.guess_output_rank, o.verbose, o.save_as_external_data,
                          o.all_tensors_to_one_file, o.external_data_location, o.external_data_size_threshold,
                          o.strict_shapes),
                         ("in.onnx", "out.onnx", True, True, True, True, 77, True, 1, True, True, "w.bin", 5, True))
        # Left out, an option is unset: the server's default (the same).
        d = quantprep.build_options("a", "b")
        self.assertFalse(d.HasField("int_max") or d.HasField("external_data_size_threshold"))
        d = quantprep.build_options("a", "b", *[v for _, v in quantprep._api.REFERENCE])
        self.assertTrue(d.HasField("int_max") and d.HasField("external_data_size_threshold"))
        self.assertEqual((d.int_max, d.external_data_size_threshold, d.verbose), (2**31 - 1, 1024, 0))
        # As in the reference: verbose 2 is 1, 5 is 3; a location without
        # save_as_external_data is ignored.
        self.assertEqual([quantprep.build_options("a", "b", verbose=v).verbose for v in (-1, 0, 1, 2, 3, 5)],
                         [0, 0, 1, 1, 3, 3])
        self.assertEqual(quantprep.build_options("a", "b", external_data_location="w.bin").external_data_location, "")
        # Any field of Options by name; an unknown one is a TypeError.
        o = quantprep.build_options("a", "b", disabled_optimizers="EliminateIdentity,ConstantFolding", max_nodes=5)
        self.assertEqual((list(o.disabled_optimizers), o.max_nodes), (["EliminateIdentity", "ConstantFolding"], 5))
        with self.assertRaisesRegex(TypeError, "no_such_option"):
            quantprep.build_options("a", "b", no_such_option=1)
        with self.assertRaisesRegex(TypeError, "model_name"):
            quantprep.build_options("a", "b", model_name="c")

    def test_invalid_options_in_the_clis_words(self):
        # The server checks the values (the client does not), with the rules
        # and the words of the quantprep CLI.
        src = MODELS / (MODEL_NAMES[0] + ".onnx")
        for kw, flags in ((dict(int_max=0), ["--int_max", "0"]),
                          (dict(max_fold_bytes=-1), ["--max_fold_bytes", "-1"]),
                          (dict(disabled_optimizers=["NoSuchPass"]), ["--disabled_optimizers", "NoSuchPass"]),
                          (dict(save_as_external_data=True, external_data_location="../w.bin"),
                           ["--save_as_external_data", "--external_data_location", "../w.bin"])):
            with self.subTest(flags):
                with self.assertRaises(quantprep.errors.InvalidArgumentError) as cm:
                    quantprep.quant_pre_process(src, self.path("out.onnx"), server=_server.address, **kw)
                r = go_cli(["preprocess", "--input", str(src), "--output", self.path("go.onnx")] + flags)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertTrue(cm.exception.message.startswith("invalid options: "), cm.exception.message)
                self.assertIn(": " + cm.exception.message + "\n", r.stderr)

    def test_reference_signature(self):
        import inspect
        params = list(inspect.signature(quantprep.quant_pre_process).parameters.values())
        positional = [(p.name, p.default) for p in params if p.kind == p.POSITIONAL_OR_KEYWORD]
        self.assertEqual(positional, [
            ("input_model_path", None), ("output_model_path", None), ("skip_optimization", False),
            ("skip_onnx_shape", False), ("skip_symbolic_shape", False), ("auto_merge", False),
            ("int_max", 2**31 - 1), ("guess_output_rank", False), ("verbose", 0),
            ("save_as_external_data", False), ("all_tensors_to_one_file", False),
            ("external_data_location", None), ("external_data_size_threshold", 1024)])
        self.assertTrue(all(p.kind == p.KEYWORD_ONLY for p in params[len(positional):-1]))
        # Then **options: every other option, by its field name, which no
        # argument of quant_pre_process may shadow.
        self.assertEqual(params[-1].kind, params[-1].VAR_KEYWORD)
        self.assertFalse({p.name for p in params[:-1]} & (set(quantprep.option_names()) - {n for n, _ in positional}))

    def test_cli(self):
        src = str(MODELS / "cnn-tiny.onnx")
        flags = ["--skip_optimization", "True", "--skip_onnx_shape", "False", "--auto_merge", "--int_max", "999",
                 "--verbose", "1"] + EXTERNAL
        go_flags = ["--skip_optimization", "--auto_merge", "--int_max", "999", "--verbose", "1"] + EXTERNAL
        self.go(src, self.path("go", "out.onnx"), *go_flags)
        path = os.pathsep.join([str(REPO / "client" / "python")] + [p for p in [os.environ.get("PYTHONPATH")] if p])
        env = dict(os.environ, PYTHONPATH=path, QUANTPREP_SERVER=_server.address)
        r = subprocess.run([sys.executable, "-m", "quantprep", "--input", src, "--output", self.path("py", "out.onnx"),
                            "--json"] + flags, capture_output=True, text=True, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('"nodes_before"', r.stdout)
        self.assertSameFiles(self.path("go"), self.path("py"))
        r = subprocess.run([sys.executable, "-m", "quantprep", "--input", src], capture_output=True, text=True, env=env)
        self.assertEqual(r.returncode, 2, r.stderr)
        r = subprocess.run([sys.executable, "-m", "quantprep", "--input", self.path("missing.onnx"), "--output",
                            self.path("o", "x.onnx")], capture_output=True, text=True, env=env)
        self.assertEqual(r.returncode, 1)
        self.assertIn("missing.onnx", r.stderr)


def bad_model():
    """A model whose Relu reads an undefined input "x"."""
    node = field(1, b"x") + field(2, b"y") + field(4, b"Relu")
    graph = field(1, node) + field(2, b"g") + field(12, field(1, b"y"))
    return field(1, 8) + field(8, field(1, b"") + field(2, 17)) + field(7, graph)


class ErrorsTest(Case):
    def test_bad_model(self):
        for how, kw in (("server", {"server": _server.address}), ("binary", {"binary": helpers.binary()})):
            with self.subTest(how):
                src = self.path("bad.onnx")
                with open(src, "wb") as f:
                    f.write(bad_model())
                with self.assertRaises(quantprep.InvalidArgumentError) as cm:
                    quantprep.quant_pre_process(src, self.path("out", "o.onnx"), **kw)
                self.assertIsNotNone(cm.exception.code)
                self.assertIn('input "x" is not defined', str(cm.exception))
                self.assertIsInstance(cm.exception, ValueError)
                self.assertEmptyDir(self.path("out"))

    def test_not_a_model(self):
        src = self.path("junk.onnx")
        with open(src, "wb") as f:
            f.write(b"\x0c this is not protobuf")
        with self.assertRaisesRegex(quantprep.InvalidArgumentError, "junk.onnx: not an ONNX model"):
            quantprep.quant_pre_process(src, self.path("out", "o.onnx"), server=_server.address)

    def test_missing_files(self):
        with self.assertRaises(FileNotFoundError):
            quantprep.quant_pre_process(self.path("nope.onnx"), self.path("o.onnx"), server=_server.address)
        src = self.path("in", "model.onnx")
        self.go(MODELS / "cnn-tiny.onnx", src, "--skip_optimization", "--save_as_external_data",
                "--all_tensors_to_one_file", "--external_data_location", "w.bin")
        os.remove(self.path("in", "w.bin"))
        with self.assertRaisesRegex(FileNotFoundError, "w.bin"):
            quantprep.quant_pre_process(src, self.path("out", "o.onnx"), server=_server.address)

    def test_shared_dir(self):
        os.makedirs(self.path("shared"))
        # A server without a shared directory says so.
        with self.assertRaisesRegex(quantprep.FailedPreconditionError, "no shared directory"):
            with LocalServer(helpers.binary()) as plain:
                quantprep.quant_pre_process(MODELS / "cnn-tiny.onnx", self.path("out", "o.onnx"), server=plain.address,
                                            shared_dir=self.path("shared"))
        self.assertEmptyDir(self.path("out"))
        self.assertEmptyDir(self.path("shared"))
        # A shared directory that is not the server's: the server finds no model.
        with self.assertRaisesRegex(quantprep.InvalidArgumentError, "no such file in the shared directory"):
            quantprep.quant_pre_process(MODELS / "cnn-tiny.onnx", self.path("out", "o.onnx"), server=_server.address,
                                        shared_dir=self.path("shared"))
        self.assertEmptyDir(self.path("out"))
        self.assertEmptyDir(self.path("shared"))
        # A model held in memory is written into the shared directory.
        with open(MODELS / "cnn-tiny.onnx", "rb") as f:
            data = f.read()
        self.go(MODELS / "cnn-tiny.onnx", self.path("go", "model.onnx"))
        quantprep.quant_pre_process(data, self.path("mem", "model.onnx"), server=_server.address, shared_dir=_shared)
        self.assertSameFiles(self.path("go"), self.path("mem"))
        self.assertEmptyDir(_shared)

    def test_oversize_upload(self):
        with LocalServer(helpers.binary(), extra_args=["--max_upload_bytes", "64KiB"]) as small:
            with self.assertRaises(quantprep.ResourceExhaustedError) as cm:
                quantprep.quant_pre_process(MODELS / "bert-tiny.onnx", self.path("out", "o.onnx"), server=small.address)
        self.assertIn("65536", str(cm.exception))
        self.assertEmptyDir(self.path("out"))

    def test_unreachable(self):
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        with self.assertRaises(quantprep.UnavailableError):
            quantprep.quant_pre_process(MODELS / "cnn-tiny.onnx", self.path("o.onnx"), server="127.0.0.1:%d" % port,
                                        timeout=10)

    def test_no_binary(self):
        with helpers.environ(QUANTPREP_SERVER=None, QUANTPREP_BIN=None, PATH=self.dir):
            with self.assertRaisesRegex(FileNotFoundError, "QUANTPREP_SERVER"):
                quantprep.quant_pre_process(MODELS / "cnn-tiny.onnx", self.path("o.onnx"))


class TLSTest(Case):
    """The client's TLS options against the server's (--tls_cert_file,
    --tls_key_file, --tls_client_ca_file), when this binary has them."""

    def test_mutual_tls(self):
        usage = go_cli(["serve", "--help"]).stdout
        if "--tls_client_ca_file" not in usage:
            self.skipTest("this quantprep serve has no TLS flags")
        certs = helpers.make_certs(self.dir)
        if certs is None:
            self.skipTest("openssl is not installed")
        args = ["--tls_cert_file", certs["server_cert"], "--tls_key_file", certs["server_key"],
                "--tls_client_ca_file", certs["ca"]]
        with LocalServer(helpers.binary(), extra_args=args) as srv:
            addr = srv.address.replace("127.0.0.1", "localhost")
            self.go(MODELS / "cnn-tiny.onnx", self.path("go", "out.onnx"))
            quantprep.quant_pre_process(MODELS / "cnn-tiny.onnx", self.path("py", "out.onnx"), server=addr,
                                        tls_ca_file=certs["ca"], tls_client_cert_file=certs["client_cert"],
                                        tls_client_key_file=certs["client_key"])
            self.assertSameFiles(self.path("go"), self.path("py"))
            with self.assertRaises(quantprep.QuantprepError):  # no client certificate
                quantprep.quant_pre_process(MODELS / "cnn-tiny.onnx", self.path("x", "out.onnx"), server=addr,
                                            tls_ca_file=certs["ca"], timeout=10, retries=0)
            self.assertEmptyDir(self.path("x"))


class Stop(Exception):
    pass


class CancelTest(Case):
    """A call stopped at any point, by a callback's exception or a timeout,
    leaves no file in the output directory, and the server cleans up too."""

    def assertServerClean(self, spool):
        deadline = time.monotonic() + 10
        while os.listdir(spool) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(os.listdir(spool), [])

    def test_cancel_points(self):
        spool = self.path("spool", "x")
        spool = os.path.dirname(spool)
        with LocalServer(helpers.binary(), temp_dir=spool, extra_args=["--chunk_size", "4KiB"]) as srv:
            def at_progress(e):
                if e.phase == "started" and e.index == 2:
                    raise Stop()

            def at_upload(t):
                if t.direction == "upload" and t.done >= 2 << 20:
                    raise Stop()

            def at_download(t):
                if t.direction == "download" and t.done > 64 << 10:
                    raise Stop()

            cases = [("progress", {"progress": at_progress}, Stop),
                     ("upload", {"transfer": at_upload}, Stop),
                     ("download", {"transfer": at_download}, Stop),
                     ("download external", dict(EXTERNAL_KW, transfer=at_download), Stop),
                     # A deadline that passes before the call can end on any
                     # machine (the upload alone takes longer).
                     ("timeout", {"timeout": 0.001}, quantprep.DeadlineExceededError)]
            for name, kw, exc in cases:
                with self.subTest(name):
                    out = self.path("out-" + name.replace(" ", "-"), "o.onnx")
                    with self.assertRaises(exc):
                        quantprep.quant_pre_process(MODELS / "bert-tiny.onnx", out, server=srv.address,
                                                    chunk_size=64 << 10, **kw)
                    self.assertEmptyDir(os.path.dirname(out))
                    self.assertServerClean(spool)
            # The server is still well after all that.
            quantprep.quant_pre_process(MODELS / "cnn-tiny.onnx", self.path("ok", "o.onnx"), server=srv.address)

    def test_keyboard_interrupt_in_binary_path(self):
        # An interrupt (here raised from the progress callback, as Ctrl-C would
        # land in the main thread) stops the call and the child server.
        def interrupt(e):
            raise KeyboardInterrupt()

        before = set(threading.enumerate())
        with self.assertRaises(KeyboardInterrupt):
            quantprep.quant_pre_process(MODELS / "bert-tiny.onnx", self.path("out", "o.onnx"),
                                        binary=helpers.binary(), progress=interrupt)
        self.assertEmptyDir(self.path("out"))
        time.sleep(0.1)
        leftover = [t for t in threading.enumerate() if t not in before and t.name == "quantprep-serve-log"]
        self.assertEqual(leftover, [])


class ProgressTest(Case):
    def test_events(self):
        events, transfers = [], []
        quantprep.quant_pre_process(MODELS / "gpt2-tiny.onnx", self.path("o.onnx"), server=_server.address,
                                    progress=events.append, transfer=transfers.append, chunk_size=256 << 10)
        self.assertTrue(events)
        self.assertEqual({e.phase for e in events}, {"started", "finished"})
        self.assertEqual(events[0].index, 1)
        self.assertTrue(all(e.total == events[0].total for e in events))
        ups = [t for t in transfers if t.direction == "upload"]
        size = os.path.getsize(MODELS / "gpt2-tiny.onnx")
        self.assertEqual(ups[-1].done, size)
        self.assertEqual(ups[-1].total, size)
        self.assertGreater(len(ups), 3)
        downs = [t for t in transfers if t.direction == "download"]
        self.assertEqual(downs[-1].done, os.path.getsize(self.path("o.onnx")))


if __name__ == "__main__":
    unittest.main()
