"""quantprep: a drop-in for ONNX Runtime's quant_pre_process, run by a quantprep
server (QUANTPREP_SERVER=HOST:PORT) or by the quantprep binary.

    from quantprep import quant_pre_process
    quant_pre_process("model.onnx", "model.prep.onnx", auto_merge=True)
"""

try:
    import grpc  # noqa: F401
    import google.protobuf  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the installation
    raise ImportError("quantprep needs grpcio and protobuf (pip install grpcio protobuf, or on Debian "
                      "apt install python3-grpcio python3-protobuf): %s" % e) from e

from ._api import build_options, channel_credentials, open_channel, option_names, quant_pre_process
from ._locations import external_locations, external_locations_of_file
from ._types import OutputFile, Progress, StepSummary, Summary, Transfer
from .errors import (
    CancelledError,
    DeadlineExceededError,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    PermissionDeniedError,
    QuantprepError,
    ResourceExhaustedError,
    UnavailableError,
)

__version__ = "0.1.0"

__all__ = [
    "quant_pre_process", "open_channel", "channel_credentials", "build_options", "option_names",
    "external_locations", "external_locations_of_file",
    "Summary", "StepSummary", "OutputFile", "Progress", "Transfer",
    "QuantprepError", "InvalidArgumentError", "FailedPreconditionError", "ResourceExhaustedError",
    "UnavailableError", "DeadlineExceededError", "CancelledError", "PermissionDeniedError", "InternalError",
]
