"""quant_pre_process: ONNX Runtime's function of that name, run by quantprep."""

import logging
import os
import random
import shutil
import tempfile
import time
from typing import Any, Callable, Optional, Sequence, Tuple, Union

import grpc

from . import _client, errors
from ._local import LocalServer
from ._types import Progress, Summary, Transfer
from .v1 import quantprep_pb2 as pb

logger = logging.getLogger("quantprep")

_TRUE = ("1", "true", "yes", "on")
# Backoff between attempts when the server is busy or unreachable: the first
# delay, the cap, both in seconds (each delay is jittered down by up to half).
_BACKOFF = 0.5
_MAX_BACKOFF = 10.0


def _env(name):
    v = os.environ.get(name)
    return v if v else None


def _read(path, what):
    if path is None:
        return None
    with open(os.fspath(path), "rb") as f:
        data = f.read()
    if not data:
        raise ValueError("%s %s is empty" % (what, path))
    return data


def channel_credentials(tls_ca_file=None, tls_client_cert_file=None, tls_client_key_file=None):
    """TLS credentials for a quantprep server: its CA (default: the system's
    roots) and, for mutual TLS, the client's certificate and key."""
    if (tls_client_cert_file is None) != (tls_client_key_file is None):
        raise ValueError("tls_client_cert_file and tls_client_key_file go together")
    return grpc.ssl_channel_credentials(
        root_certificates=_read(tls_ca_file, "tls_ca_file"),
        private_key=_read(tls_client_key_file, "tls_client_key_file"),
        certificate_chain=_read(tls_client_cert_file, "tls_client_cert_file"))


def open_channel(server, tls=None, tls_ca_file=None, tls_client_cert_file=None, tls_client_key_file=None,
                 tls_server_name=None):
    """A channel to the quantprep server at HOST:PORT. TLS is on when tls is
    true or any TLS file is given; each argument left None falls back to its
    environment variable: QUANTPREP_TLS (1/true), QUANTPREP_TLS_CA_FILE,
    QUANTPREP_TLS_CLIENT_CERT_FILE, QUANTPREP_TLS_CLIENT_KEY_FILE and
    QUANTPREP_TLS_SERVER_NAME."""
    if tls_ca_file is None:
        tls_ca_file = _env("QUANTPREP_TLS_CA_FILE")
    if tls_client_cert_file is None:
        tls_client_cert_file = _env("QUANTPREP_TLS_CLIENT_CERT_FILE")
    if tls_client_key_file is None:
        tls_client_key_file = _env("QUANTPREP_TLS_CLIENT_KEY_FILE")
    if tls_server_name is None:
        tls_server_name = _env("QUANTPREP_TLS_SERVER_NAME")
    if tls is None:
        tls = (os.environ.get("QUANTPREP_TLS", "").lower() in _TRUE
               or any(x is not None for x in (tls_ca_file, tls_client_cert_file, tls_client_key_file)))
    options = [("grpc.max_receive_message_length", _client.MAX_RECEIVE)]
    if not tls:
        return grpc.insecure_channel(server, options=options)
    if tls_server_name:
        options.append(("grpc.ssl_target_name_override", tls_server_name))
    creds = channel_credentials(tls_ca_file, tls_client_cert_file, tls_client_key_file)
    return grpc.secure_channel(server, creds, options=options)


# REFERENCE are the reference's arguments of quant_pre_process, in its order
# and with its defaults; they may be given positionally.
REFERENCE = (("skip_optimization", False), ("skip_onnx_shape", False), ("skip_symbolic_shape", False),
             ("auto_merge", False), ("int_max", 2**31 - 1), ("guess_output_rank", False), ("verbose", 0),
             ("save_as_external_data", False), ("all_tensors_to_one_file", False),
             ("external_data_location", None), ("external_data_size_threshold", 1024))

# The fields of quantprep.v1.Options that are not options: the upload's names.
_WIRE_ONLY = ("model_name", "output_name")


def option_names():
    """Every option's name: each field of quantprep.v1.Options but the file
    names, the reference's and quantprep's own (see the README's option table
    or `quantprep preprocess --help`)."""
    return [f.name for f in pb.Options.DESCRIPTOR.fields if f.name not in _WIRE_ONLY]


def _field_value(fd, name, value):
    if fd.label == fd.LABEL_REPEATED:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        return [str(v) for v in value]
    if fd.type == fd.TYPE_BOOL:
        return bool(value)
    if fd.type in (fd.TYPE_INT32, fd.TYPE_INT64):
        if isinstance(value, bool) or int(value) != value:
            raise TypeError("%s: want a whole number, got %r" % (name, value))
        return int(value)
    if fd.type == fd.TYPE_STRING:
        return os.fspath(value)
    raise TypeError("%s: option of unsupported type %d" % (name, fd.type))


def build_options(model_name, output_name, *reference, **options):
    """The wire Options for quant_pre_process's options: the reference's
    arguments, positionally (in REFERENCE's order) or by name, and any other
    option by name (a field of quantprep.v1.Options: strict_shapes,
    disabled_optimizers, the budgets max_*, ...). An option left out, or None,
    takes the server's default. The server checks the values, with the rules
    and the words of the quantprep CLI (InvalidArgumentError)."""
    if len(reference) > len(REFERENCE):
        raise TypeError("build_options takes at most %d positional options" % len(REFERENCE))
    for (name, _), value in zip(REFERENCE, reference):
        if name in options:
            raise TypeError("%s given twice" % name)
        options[name] = value
    if options.get("verbose") is not None:
        # The reference tool logs warnings at verbose > 0 and details at > 2;
        # the service takes its levels 0, 1 and 3.
        v = int(options["verbose"])
        options["verbose"] = 3 if v > 2 else (1 if v > 0 else 0)
    if options.get("external_data_location") and not options.get("save_as_external_data"):
        # The reference tool ignores a location when it saves no external data.
        logger.debug("external_data_location %r ignored: save_as_external_data is off", options["external_data_location"])
        options["external_data_location"] = None
    fields = pb.Options.DESCRIPTOR.fields_by_name
    o = pb.Options(model_name=model_name, output_name=output_name)
    for name, value in options.items():
        fd = fields.get(name)
        if fd is None or name in _WIRE_ONLY:
            raise TypeError("unknown option %r (options: %s)" % (name, ", ".join(option_names())))
        if value is None:
            continue
        value = _field_value(fd, name, value)
        if fd.label == fd.LABEL_REPEATED:
            getattr(o, name).extend(value)
        else:
            setattr(o, name, value)
    return o


def _retryable(err):
    if isinstance(err, errors.UnavailableError):
        return True
    return "busy" in err.message.lower()


def _source(model):
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        return _client.ModelSource(os.path.basename(path), path=path)
    if isinstance(model, (bytes, bytearray, memoryview)):
        return _client.ModelSource("model.onnx", data=bytes(model))
    if hasattr(model, "SerializeToString"):  # an onnx.ModelProto; onnx itself is not needed
        return _client.ModelSource("model.onnx", data=model.SerializeToString())
    raise TypeError("input_model_path must be a path, an onnx.ModelProto or bytes, not %s" % type(model).__name__)


def quant_pre_process(
    input_model_path: Union[str, "os.PathLike[str]", bytes, Any, None] = None,
    output_model_path: Union[str, "os.PathLike[str]", None] = None,
    skip_optimization: bool = False,
    skip_onnx_shape: bool = False,
    skip_symbolic_shape: bool = False,
    auto_merge: bool = False,
    int_max: int = 2**31 - 1,
    guess_output_rank: bool = False,
    verbose: int = 0,
    save_as_external_data: bool = False,
    all_tensors_to_one_file: bool = False,
    external_data_location: Optional[str] = None,
    external_data_size_threshold: int = 1024,
    *,
    input_model: Union[str, "os.PathLike[str]", bytes, Any, None] = None,
    server: Union[str, grpc.Channel, None] = None,
    shared_dir: Union[str, "os.PathLike[str]", None] = None,
    progress: Optional[Callable[[Progress], None]] = None,
    transfer: Optional[Callable[[Transfer], None]] = None,
    timeout: Optional[float] = None,
    binary: Optional[str] = None,
    tls: Optional[bool] = None,
    tls_ca_file: Optional[str] = None,
    tls_client_cert_file: Optional[str] = None,
    tls_client_key_file: Optional[str] = None,
    tls_server_name: Optional[str] = None,
    metadata: Optional[Sequence[Tuple[str, str]]] = None,
    chunk_size: int = _client.CHUNK_SIZE,
    retries: int = 3,
    **options: Any,
) -> Summary:
    """Shape inference and graph optimization in preparation for quantization,
    as onnxruntime.quantization.shape_inference.quant_pre_process does, with
    the same positional arguments and defaults, run by a quantprep server or
    by the quantprep binary.

    input_model_path: the model's path (str or os.PathLike), an onnx.ModelProto
        (with its weights loaded) or a serialized model (bytes). input_model is
        the same argument under the name newer ONNX Runtime uses.
    output_model_path: where to write the output model; its external data (with
        save_as_external_data) goes beside it. Files appear only on success.
    The reference's arguments (skip_*, auto_merge, int_max, guess_output_rank,
    verbose, save_as_external_data, all_tensors_to_one_file,
    external_data_location, external_data_size_threshold) mean what they mean
    there.

    Keyword-only, quantprep's own:
    server: HOST:PORT of a quantprep server, or a grpc.Channel. Default:
        $QUANTPREP_SERVER; if that is unset or empty, or binary is given, the
        quantprep binary (binary, else $QUANTPREP_BIN, else `quantprep` on PATH)
        runs the call in a subprocess; that subprocess gets a directory beside
        the output to share with this process, so the model and the output
        pass through the file system, not a socket.
    shared_dir: with a server, a directory this process shares with it (the
        server's --shared_dir, as mounted here: a sidecar's volume). The
        model and the output then pass through it instead of the channel (no
        byte is sent). Default: $QUANTPREP_SHARED_DIR. The server answers
        FailedPreconditionError if it has none.
    **options: quantprep's own options, by name: every field of
        quantprep.v1.Options (option_names() lists them; the README's option
        table and `quantprep preprocess --help` say what each means), e.g.
        strict_shapes=True, disabled_optimizers=["ConstantFolding"],
        max_fold_bytes=1 << 20. One left out takes the server's default; the
        budgets (max_*) may only be lowered. The server checks every value
        (InvalidArgumentError, in the quantprep CLI's words).
    progress: called with a Progress for each pipeline step event.
    transfer: called with a Transfer as bytes are uploaded and downloaded
        (uploads are reported from gRPC's sending thread).
    timeout: seconds the whole call may take (DeadlineExceededError).
    tls, tls_ca_file, tls_client_cert_file, tls_client_key_file,
        tls_server_name: TLS to the server (see open_channel).
    metadata: extra gRPC metadata, a sequence of (key, value) pairs.
    retries: how many times a call is tried again, with backoff and within
        timeout, when the server turns it away before the pipeline starts
        because it is busy (RESOURCE_EXHAUSTED "server busy") or cannot be
        reached (UNAVAILABLE). An upload over the server's limit is not retried.

    Returns a Summary (the reference returns None). Raises a QuantprepError
    subclass named after the server's status code, with the server's message;
    InvalidArgumentError and FailedPreconditionError are also ValueErrors.
    An exception raised by a callback, or KeyboardInterrupt, cancels the call.
    """
    if input_model is not None:
        if input_model_path is not None:
            raise TypeError("give input_model_path or input_model, not both")
        input_model_path = input_model
    if input_model_path is None:
        raise TypeError("input_model_path is required")
    if output_model_path is None:
        raise TypeError("output_model_path is required")
    output_path = os.fspath(output_model_path)
    src = _source(input_model_path)
    opts = build_options(
        src.name, os.path.basename(output_path), skip_optimization, skip_onnx_shape, skip_symbolic_shape,
        auto_merge, int_max, guess_output_rank, verbose, save_as_external_data, all_tensors_to_one_file,
        external_data_location, external_data_size_threshold, **options)

    def run(channel):
        deadline = None if timeout is None else time.monotonic() + timeout
        attempt = 0
        while True:
            started = []

            def on_progress(e):
                started.append(e)
                if progress is not None:
                    progress(e)

            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                if shared:
                    return _client.preprocess_shared(channel, src, output_path, opts, shared, progress=on_progress,
                                                     timeout=remaining, metadata=metadata)
                return _client.preprocess(channel, src, output_path, opts, progress=on_progress, transfer=transfer,
                                          timeout=remaining, chunk_size=chunk_size, metadata=metadata)
            except (errors.ResourceExhaustedError, errors.UnavailableError) as e:
                if attempt >= retries or started or not _retryable(e):
                    raise
                delay = min(_MAX_BACKOFF, _BACKOFF * 2 ** attempt) * random.uniform(0.5, 1.0)
                if deadline is not None and time.monotonic() + delay >= deadline:
                    raise
                logger.info("%s; trying again in %.1fs", e, delay)
                time.sleep(delay)
                attempt += 1

    if server is None and binary is None:
        server = os.environ.get("QUANTPREP_SERVER") or None
    shared = None
    if server:
        shared = os.fspath(shared_dir) if shared_dir is not None else (os.environ.get("QUANTPREP_SHARED_DIR") or None)
    if isinstance(server, grpc.Channel):
        summary = run(server)
    elif server:
        with open_channel(server, tls, tls_ca_file, tls_client_cert_file, tls_client_key_file,
                          tls_server_name) as channel:
            summary = run(channel)
    else:
        # The shared directory beside the output, so that the output's rename
        # into place never crosses file systems, and the child's spool beside
        # it (out of the shared directory's reach), so that its links do not
        # either: with the model on that file system too, nothing is copied.
        out_dir = os.path.dirname(os.path.abspath(output_path))
        os.makedirs(out_dir, exist_ok=True)
        work = tempfile.mkdtemp(prefix=".quantprep-", dir=out_dir)
        shared = os.path.join(work, "shared")
        try:
            os.mkdir(shared)
            with LocalServer(binary, temp_dir=os.path.join(work, "spool"), extra_args=["--shared_dir", shared]) as local:
                with grpc.insecure_channel(
                        local.address, options=[("grpc.max_receive_message_length", _client.MAX_RECEIVE)]) as channel:
                    summary = run(channel)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    level = logging.WARNING if verbose and int(verbose) > 0 else logging.DEBUG
    for w in summary.warnings:
        logger.log(level, "%s", w)
    if verbose and int(verbose) > 2:
        # The details, as the reference logs them at verbose 3.
        for st in summary.steps:
            for d in st.details:
                logger.info("%s: %s", st.name, d)
            if st.pass_wall_time_micros:
                logger.info("%s: pass times: %s", st.name, ", ".join(
                    "%s %.3fms" % (n, t / 1e3)
                    for n, t in sorted(st.pass_wall_time_micros.items(), key=lambda kv: (-kv[1], kv[0]))))
    return summary
