"""One Preprocess call over a gRPC channel: the upload of the model and its
external-data files, and the download of the output files into place."""

import os
import posixpath
import shutil
import tempfile
import threading
import time

import grpc

from . import errors
from ._locations import WireError, external_locations, external_locations_of_file
from ._types import Progress, Summary, Transfer
from .v1 import quantprep_pb2 as pb
from .v1 import quantprep_pb2_grpc as pb_grpc

CHUNK_SIZE = 1 << 20
# Bounds one response message; servers send chunks of 1 MiB by default.
MAX_RECEIVE = 256 << 20


def check_location(loc):
    """Raises ValueError unless loc is a relative path that stays inside the
    model's directory, as the server requires of external-data locations."""
    if not loc:
        raise ValueError("must not be empty")
    if "\0" in loc:
        raise ValueError("%r contains a NUL byte" % loc)
    s = loc.replace("\\", "/")
    if s.startswith("/") or (len(s) >= 2 and s[1] == ":"):
        raise ValueError("%r is absolute; it must be relative to the model" % loc)
    if ".." in s.split("/"):
        raise ValueError("%r climbs out of the model's directory with \"..\"" % loc)
    if posixpath.normpath(s) == ".":
        raise ValueError("%r names no file" % loc)


class ModelSource:
    """What to upload: a model file and the external-data files beside it, or
    a serialized model held in memory (which must have no external data)."""

    def __init__(self, name, path=None, data=None):
        self.name = name
        self.path = path
        self.data = data
        if path is not None:
            self.size = os.path.getsize(path)
            self.dir = os.path.dirname(os.path.abspath(path))
            try:
                self.locations = external_locations_of_file(path)
            except WireError as e:
                raise errors.InvalidArgumentError("%s: not an ONNX model: %s" % (name, e)) from None
        else:
            self.size = len(data)
            self.dir = None
            try:
                self.locations = external_locations(data)
            except WireError as e:
                raise errors.InvalidArgumentError("%s: not an ONNX model: %s" % (name, e)) from None
            if self.locations:
                raise ValueError(
                    "the ModelProto refers to external data (%s) that is not loaded into memory; "
                    "load it first (onnx.load_external_data_for_model) or pass the model's path"
                    % ", ".join(self.locations))
        for loc in self.locations:
            try:
                check_location(loc)
            except ValueError as e:
                raise errors.InvalidArgumentError("%s: external data location: %s" % (name, e)) from None
            p = self.external_path(loc)
            if not os.path.isfile(p):
                raise FileNotFoundError(2, "external data file of %s not found" % name, p)

    def external_path(self, loc):
        return os.path.join(self.dir, *loc.split("/"))


class _Upload:
    """The request stream. gRPC reads it on a thread of its own; an error in
    it (a file that cannot be read, a callback that raised) is kept to be
    raised by the caller instead of the bare CANCELLED that gRPC reports."""

    def __init__(self, options, src, transfer, chunk_size):
        self.options = options
        self.src = src
        self.transfer = transfer
        self.chunk_size = chunk_size
        self.error = None
        self.call = None
        self.ready = threading.Event()

    def _report(self, name, done, total):
        if self.transfer is not None:
            self.transfer(Transfer("upload", name, done, total))

    def _chunks(self, f, name, total, always_one):
        done = 0
        first = True
        while True:
            data = f.read(self.chunk_size)
            if not data and not (first and always_one):
                return
            done += len(data)
            first = False
            yield data
            self._report(name, done, total)
            if not data:
                return

    def __iter__(self):
        try:
            yield pb.PreprocessRequest(options=self.options)
            src = self.src
            if src.path is None:
                view = memoryview(src.data)
                for i in range(0, len(view), self.chunk_size):
                    yield pb.PreprocessRequest(model_chunk=pb.Chunk(data=bytes(view[i:i + self.chunk_size])))
                    self._report(src.name, min(i + self.chunk_size, len(view)), len(view))
            else:
                with open(src.path, "rb") as f:
                    for data in self._chunks(f, src.name, src.size, False):
                        yield pb.PreprocessRequest(model_chunk=pb.Chunk(data=data))
            for loc in src.locations:
                p = src.external_path(loc)
                with open(p, "rb") as f:
                    size = os.fstat(f.fileno()).st_size
                    # An empty file still gets one chunk, so that the server knows it exists.
                    for data in self._chunks(f, loc, size, True):
                        yield pb.PreprocessRequest(external_data_chunk=pb.ExternalDataChunk(location=loc, data=data))
        except GeneratorExit:  # gRPC closes the stream: the call is over
            raise
        except BaseException as e:  # noqa: B902 - kept for the caller, who raises it
            self.error = e
            self.ready.wait(5)
            if self.call is not None:
                self.call.cancel()


class _Output:
    """Collects the response's files under temporary names beside their final
    paths; commit renames them into place (the model last, so that it never
    points to external data that is not there yet), discard removes them."""

    def __init__(self, model_path):
        self.model_path = model_path
        self.dir = os.path.dirname(os.path.abspath(model_path))
        self.files = {}  # location ("" for the model) -> (file object, temp path)
        self.order = []
        self.current = None

    def final(self, loc):
        if loc == "":
            return self.model_path
        return os.path.join(self.dir, *loc.split("/"))

    def _create(self, loc):
        """Starts the file at loc ("" for the model) under a temporary name
        beside its final path, checking the name the server gave it."""
        if loc in self.order:
            raise errors.InternalError("the server sent file %r again after another one" % loc)
        if loc != "":
            try:
                check_location(loc)
            except ValueError as e:
                raise errors.InternalError("the server sent a bad external data location: %s" % e) from None
        final = self.final(loc)
        if loc != "" and os.path.abspath(final) == os.path.abspath(self.model_path):
            raise errors.InternalError("the server sent external data named like the model, %r" % loc)
        d = os.path.dirname(os.path.abspath(final))
        os.makedirs(d, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=d, prefix="." + os.path.basename(final) + ".tmp")
        f = os.fdopen(fd, "wb")
        self.files[loc] = entry = (f, tmp)
        self.order.append(loc)
        # mkstemp makes the file private; outputs get the usual mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        return entry

    def adopt(self, loc, src, sync):
        """Takes the file at src as the output at loc: renamed to its
        temporary name where one file system allows, else copied there (and
        synced with sync; a renamed file is as synced as its writer left it)."""
        f, tmp = self._create(loc)
        # The rename goes to a free name: renaming over a file, even an empty
        # one, makes ext4 write the renamed file out first (auto_da_alloc).
        f.close()
        os.remove(tmp)
        try:
            os.replace(src, tmp)
            return
        except OSError:
            pass
        f = open(tmp, "xb")
        self.files[loc] = (f, tmp)
        with open(src, "rb") as s:
            shutil.copyfileobj(s, f, 1 << 20)
        if sync:
            f.flush()
            os.fsync(f.fileno())

    def write(self, loc, data):
        entry = self.files.get(loc)
        if entry is None:
            entry = self._create(loc)
        elif loc != self.current:
            raise errors.InternalError("the server sent file %r again after another one" % loc)
        self.current = loc
        entry[0].write(data)

    def commit(self):
        if "" not in self.files:
            raise errors.InternalError("the server sent no output model")
        for f, _ in self.files.values():
            f.close()
        for loc in [x for x in self.order if x != ""] + [""]:
            _, tmp = self.files.pop(loc)
            os.replace(tmp, self.final(loc))

    def discard(self):
        for f, tmp in self.files.values():
            f.close()
            try:
                os.remove(tmp)
            except OSError:
                pass
        self.files = {}


def _answers(call, progress):
    """Yields (kind, message) for each message of the answer but the progress
    events, which go to progress; nothing may follow the summary."""
    done = False
    for resp in call:
        kind = resp.WhichOneof("payload")
        if done:
            raise errors.InternalError("the server sent %s after the summary" % kind)
        if kind == "progress":
            if progress is not None:
                progress(Progress.from_proto(resp.progress))
            continue
        done = kind == "summary"
        yield kind, resp


def preprocess(channel, src, output_path, options, progress=None, transfer=None, timeout=None,
               chunk_size=CHUNK_SIZE, metadata=None):
    """Runs one Preprocess call on channel: uploads src, writes the output model
    to output_path with its external data beside it, and returns the Summary.
    Nothing is left at the output paths unless the call succeeds."""
    stub = pb_grpc.PreprocessServiceStub(channel)
    up = _Upload(options, src, transfer, chunk_size)
    out = _Output(output_path)
    deadline = _deadline(timeout)
    call = stub.Preprocess(iter(up), timeout=timeout, metadata=metadata)
    up.call = call
    up.ready.set()
    summary = None
    done = {}
    try:
        try:
            for kind, resp in _answers(call, progress):
                if kind == "model_chunk":
                    out.write("", resp.model_chunk.data)
                    _report_download(transfer, done, os.path.basename(output_path), len(resp.model_chunk.data))
                elif kind == "external_data_chunk":
                    c = resp.external_data_chunk
                    out.write(c.location, c.data)
                    _report_download(transfer, done, c.location, len(c.data))
                elif kind == "summary":
                    # Read on to the call's status, so that the server sees the
                    # call end as it should rather than cancelled.
                    summary = resp.summary
        except grpc.RpcError as e:
            if up.error is not None:
                raise up.error from None
            raise errors.from_rpc_error(e, deadline) from None
        if up.error is not None:
            raise up.error
        if summary is None:
            raise errors.InternalError("the server closed the stream without a summary")
        out.commit()
        return Summary.from_proto(summary)
    finally:
        call.cancel()  # a no-op once the call has ended
        out.discard()


def _deadline(timeout):
    """The deadline of a call given timeout, on time.monotonic()'s clock."""
    return None if timeout is None else time.monotonic() + timeout


def _report_download(transfer, done, name, n):
    done[name] = done.get(name, 0) + n
    if transfer is not None:
        transfer(Transfer("download", name, done[name], None))


def _place(src, dst):
    """Makes dst, in the shared directory, the file at src: a hard link, or a
    copy where they are on different file systems."""
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def preprocess_shared(channel, src, output_path, options, shared_dir, progress=None, timeout=None, metadata=None):
    """Runs one Preprocess call through a directory shared with the server (its
    --shared_dir, as mounted here): the model and its external data are
    hard-linked there (copied across file systems; a model held in memory is
    written there), the server reads them in place and writes the output there,
    and the output is renamed to output_path and beside it, the model last. No
    byte of the model or of the output crosses the channel. Nothing is left at
    the output paths unless the call succeeds, nor in the shared directory."""
    req = tempfile.mkdtemp(prefix=".quantprep-", dir=shared_dir)
    try:
        # mkdtemp makes it private; the server reads it and creates the output
        # directory in it.
        os.chmod(req, 0o775)
        if src.path is not None:
            _place(src.path, os.path.join(req, src.name))
            for loc in src.locations:
                _place(src.external_path(loc), os.path.join(req, *loc.split("/")))
        else:
            with open(os.path.join(req, src.name), "xb") as f:
                f.write(src.data)
        name = os.path.basename(req)
        reqs = [pb.PreprocessRequest(options=options),
                pb.PreprocessRequest(shared_model=pb.SharedModel(path=name + "/" + src.name, output_dir=name + "/out"))]
        stub = pb_grpc.PreprocessServiceStub(channel)
        deadline = _deadline(timeout)
        call = stub.Preprocess(iter(reqs), timeout=timeout, metadata=metadata)
        summary = None
        try:
            for kind, resp in _answers(call, progress):
                if kind == "summary":
                    summary = resp.summary
                else:
                    raise errors.InternalError("the server sent %s for a shared request" % kind)
        except grpc.RpcError as e:
            raise errors.from_rpc_error(e, deadline) from None
        finally:
            call.cancel()  # a no-op once the call has ended
        if summary is None:
            raise errors.InternalError("the server closed the stream without a summary")
        # The output files, renamed into place by _Output.commit only once all
        # are there, the model last.
        out = _Output(output_path)
        try:
            for f in summary.files:
                loc = ""
                if f.external_data:
                    loc = f.name
                elif f.name != options.output_name:
                    raise errors.InternalError("the server named the output model %r, not %r" % (f.name, options.output_name))
                # _create checks loc before the file is read.
                out.adopt(loc, os.path.join(req, "out", *f.name.split("/")), options.fsync)
            out.commit()
        finally:
            out.discard()
        return Summary.from_proto(summary)
    finally:
        shutil.rmtree(req, ignore_errors=True)
