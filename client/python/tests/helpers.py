"""Shared fixtures of the Python client's tests: the dependency check, the
quantprep binary (built once with `go build`), and small wire-format encoders."""

import contextlib
import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
MODELS = REPO / "testdata" / "models"
REQUIRE = os.environ.get("QUANTPREP_REQUIRE_ORACLES") == "1"


def require_deps():
    """Skips the calling test module when grpcio or protobuf is missing, unless
    QUANTPREP_REQUIRE_ORACLES=1, where that is a failure."""
    # The tests name their servers themselves: a server or TLS setting from
    # the environment must not redirect them.
    for k in [k for k in os.environ if k == "QUANTPREP_SERVER" or k.startswith("QUANTPREP_TLS")]:
        del os.environ[k]
    try:
        import grpc  # noqa: F401
        import google.protobuf  # noqa: F401
    except ImportError as e:
        if REQUIRE:
            raise
        raise unittest.SkipTest("python deps missing (apt install python3-grpcio python3-protobuf): %s" % e)


def have_onnx():
    try:
        import onnx  # noqa: F401
        return True
    except ImportError:
        if REQUIRE:
            raise
        return False


_binary = None
_bin_dir = None


def binary():
    """The quantprep binary under test: $QUANTPREP_BIN (as for deploy/'s
    tests), else built from this checkout with go build (once per test run)."""
    global _binary, _bin_dir
    if _binary:
        return _binary
    given = os.environ.get("QUANTPREP_BIN")
    if given:
        _binary = given
        return _binary
    go = shutil.which("go")
    if go is None:
        if REQUIRE:
            raise RuntimeError("go is not on PATH: cannot build the quantprep binary")
        raise unittest.SkipTest("go is not on PATH: cannot build the quantprep binary")
    _bin_dir = tempfile.mkdtemp(prefix="quantprep-pytest-bin-")
    out = os.path.join(_bin_dir, "quantprep")
    env = dict(os.environ, CGO_ENABLED="0")
    subprocess.run([go, "build", "-o", out, "./cmd/quantprep"], cwd=REPO, env=env, check=True)
    _binary = out
    return _binary


def cleanup_binary():
    if _bin_dir:
        shutil.rmtree(_bin_dir, ignore_errors=True)


@contextlib.contextmanager
def environ(**values):
    """Sets (or, for None, removes) environment variables for a with block."""
    old = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def go_cli(args):
    """Runs the Go CLI; returns the CompletedProcess."""
    return subprocess.run([binary()] + list(args), capture_output=True, text=True)


def varint(x):
    out = bytearray()
    while True:
        b = x & 0x7F
        x >>= 7
        if x:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, payload):
    """A protobuf field: a varint for an int payload, else length-delimited."""
    if isinstance(payload, int):
        return varint(num << 3) + varint(payload)
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def ext_tensor(name, location, data_location=1):
    """An onnx TensorProto (float, dims [1]) whose data is in the external file location."""
    entries = field(13, field(1, b"location") + field(2, location.encode()))
    return field(1, 1) + field(2, 1) + field(8, name.encode()) + entries + field(14, data_location)


def files_under(d):
    """Relative path -> bytes of every file under d."""
    out = {}
    for root, _, names in os.walk(d):
        for n in names:
            p = os.path.join(root, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, d)] = f.read()
    return out


def make_certs(d):
    """A CA, a server certificate for localhost and 127.0.0.1, and a client
    certificate, made with openssl; None without openssl."""
    if shutil.which("openssl") is None:
        if REQUIRE:
            raise RuntimeError("openssl is not installed")
        return None
    d = os.path.join(d, "certs")
    os.makedirs(d)

    def run(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True, capture_output=True)

    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=quantprep test CA")
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for who in ("server", "client"):
        run("req", *key, "-keyout", who + ".key", "-out", who + ".csr", "-subj", "/CN=" + ("localhost" if who == "server" else "client"))
        run("x509", "-req", "-in", who + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", who + ".crt", "-days", "2", "-extfile", "san.ext")
    j = lambda n: os.path.join(d, n)  # noqa: E731
    return {"ca": j("ca.crt"), "server_cert": j("server.crt"), "server_key": j("server.key"),
            "client_cert": j("client.crt"), "client_key": j("client.key")}
