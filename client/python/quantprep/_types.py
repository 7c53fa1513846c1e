"""Plain Python views of the service's messages, so that callers need not touch
protobuf classes."""

from dataclasses import dataclass, field
from typing import Dict, List, Optional

from .v1 import quantprep_pb2 as pb

_PHASES = {
    pb.Progress.PHASE_STARTED: "started",
    pb.Progress.PHASE_FINISHED: "finished",
    pb.Progress.PHASE_SKIPPED: "skipped",
}


@dataclass(frozen=True)
class Progress:
    """A pipeline step starting, finishing or being skipped on the server."""

    step: str
    phase: str  # "started", "finished", "skipped" (or "unspecified")
    message: str
    index: int  # the step's place in the pipeline, 1-based
    total: int

    @classmethod
    def from_proto(cls, p):
        return cls(step=p.step, phase=_PHASES.get(p.phase, "unspecified"), message=p.message, index=p.index, total=p.total)

    def __str__(self):
        s = "[%d/%d] %s %s" % (self.index, self.total, self.step, self.phase)
        return s + (": " + self.message if self.message else "")


@dataclass(frozen=True)
class Transfer:
    """Bytes moved so far for one file: direction is "upload" or "download";
    name is the model's file name or an external-data location; total is the
    file's size when it is known (uploads), else None."""

    direction: str
    name: str
    done: int
    total: Optional[int]


@dataclass(frozen=True)
class StepSummary:
    """What one pipeline step did."""

    name: str
    skipped: bool
    wall_time_micros: int
    nodes_before: int
    nodes_after: int
    full_shapes_before: int
    full_shapes_after: int
    warnings: List[str] = field(default_factory=list)
    counts: Dict[str, int] = field(default_factory=dict)
    # The optimize step's time per pass, by pass name.
    pass_wall_time_micros: Dict[str, int] = field(default_factory=dict)
    # With verbose 3, the step's details (each node output's inferred type).
    details: List[str] = field(default_factory=list)

    @classmethod
    def from_proto(cls, s):
        return cls(name=s.name, skipped=s.skipped, wall_time_micros=s.wall_time_micros,
                   nodes_before=s.nodes_before, nodes_after=s.nodes_after,
                   full_shapes_before=s.full_shapes_before, full_shapes_after=s.full_shapes_after,
                   warnings=list(s.warnings), counts=dict(s.counts),
                   pass_wall_time_micros=dict(s.pass_wall_time_micros), details=list(s.details))


@dataclass(frozen=True)
class OutputFile:
    """One file the run wrote: the model, or an external-data file (name is
    then its location relative to the model)."""

    name: str
    size: int
    external_data: bool

    @classmethod
    def from_proto(cls, f):
        return cls(name=f.name, size=f.size, external_data=f.external_data)


@dataclass(frozen=True)
class Summary:
    """What a run did: node counts, how many node outputs have a full shape
    before and after, per-step details, warnings and the files written."""

    nodes_before: int
    nodes_after: int
    node_outputs_before: int
    node_outputs_after: int
    full_shapes_before: int
    full_shapes_after: int
    wall_time_micros: int
    warnings: List[str] = field(default_factory=list)
    steps: List[StepSummary] = field(default_factory=list)
    files: List[OutputFile] = field(default_factory=list)

    @property
    def wall_time(self):
        """The server's run time in seconds."""
        return self.wall_time_micros / 1e6

    @classmethod
    def from_proto(cls, s):
        return cls(nodes_before=s.nodes_before, nodes_after=s.nodes_after,
                   node_outputs_before=s.node_outputs_before, node_outputs_after=s.node_outputs_after,
                   full_shapes_before=s.full_shapes_before, full_shapes_after=s.full_shapes_after,
                   wall_time_micros=s.wall_time_micros, warnings=list(s.warnings),
                   steps=[StepSummary.from_proto(x) for x in s.steps],
                   files=[OutputFile.from_proto(x) for x in s.files])

    def to_dict(self):
        """The summary as plain dicts and lists, with the proto's field names."""
        from dataclasses import asdict
        return asdict(self)
