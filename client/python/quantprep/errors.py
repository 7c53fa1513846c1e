"""The exceptions quant_pre_process raises.

Every failure of the service is a QuantprepError carrying the server's message;
the subclass follows the gRPC status code, and also derives from the built-in
exception a Python caller would catch for that kind of failure (ValueError for a
bad model or bad options, TimeoutError, ConnectionError, ...).
"""

import time

import grpc


class QuantprepError(Exception):
    """A pre-processing run failed.

    code is the gRPC status code (a grpc.StatusCode) when the server answered
    with one, else None; message is the server's (or the client's) explanation.
    """

    def __init__(self, message, code=None):
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self):
        if self.code is None:
            return self.message
        return "%s: %s" % (self.code.name, self.message)


class InvalidArgumentError(QuantprepError, ValueError):
    """The model or the options are invalid (INVALID_ARGUMENT): the message names
    the node, tensor, field or file at fault."""


class FailedPreconditionError(QuantprepError, ValueError):
    """The model is valid but cannot be processed as asked (FAILED_PRECONDITION),
    for example a model over 2 GiB without save_as_external_data."""


class ResourceExhaustedError(QuantprepError):
    """The server turned the request away (RESOURCE_EXHAUSTED): the upload is
    over its size limit, or it is busy."""


class UnavailableError(QuantprepError, ConnectionError):
    """The server cannot be reached or is shutting down (UNAVAILABLE)."""


class DeadlineExceededError(QuantprepError, TimeoutError):
    """The call's timeout passed before the run finished (DEADLINE_EXCEEDED)."""


class CancelledError(QuantprepError):
    """The call was cancelled (CANCELLED)."""


class PermissionDeniedError(QuantprepError, PermissionError):
    """The server refused the caller (UNAUTHENTICATED or PERMISSION_DENIED)."""


class InternalError(QuantprepError):
    """The server failed (INTERNAL, UNKNOWN and the other codes); details are
    in its log."""


_BY_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.CANCELLED: CancelledError,
    grpc.StatusCode.UNAUTHENTICATED: PermissionDeniedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
}


def from_rpc_error(err, deadline=None):
    """Maps a grpc.RpcError to the QuantprepError for its status code.

    deadline is the call's deadline on time.monotonic()'s clock, if it has one.
    A call cancelled by the peer after its deadline passed timed out: a server
    whose deadline fires first resets the stream (RST_STREAM CANCEL), and the
    client's own timer may not have fired yet when that arrives, so the same
    timeout would come out as CANCELLED or as DEADLINE_EXCEEDED by chance
    (grpc-go's client maps it the same way)."""
    code = err.code() if hasattr(err, "code") else None
    details = err.details() if hasattr(err, "details") else None
    if code == grpc.StatusCode.CANCELLED and deadline is not None and time.monotonic() >= deadline:
        code = grpc.StatusCode.DEADLINE_EXCEEDED
        details = "the call's deadline passed (%s)" % (details or "cancelled")
    cls = _BY_CODE.get(code, InternalError)
    return cls(details or str(err), code=code)
