"""The no-server path: the quantprep binary, run as `quantprep serve` on a
loopback port of its own for the length of one call, so that a laptop gets the
same progress events, errors and output as a remote server gives."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque

from . import errors

# How long the binary may take to start listening.
START_TIMEOUT = 30.0
# How long it may take to stop once asked.
STOP_TIMEOUT = 10.0
# The largest upload `serve` accepts (its flag's maximum): a local run has no limit.
_NO_LIMIT = str(1 << 62)


def find_binary(binary=None):
    """The quantprep binary: binary, else $QUANTPREP_BIN, else `quantprep` on PATH."""
    name = binary or os.environ.get("QUANTPREP_BIN") or "quantprep"
    path = shutil.which(name) if os.sep not in name else (name if os.access(name, os.X_OK) else None)
    if path is None:
        raise FileNotFoundError(
            2, "quantprep binary not found: set QUANTPREP_SERVER=HOST:PORT to use a server, "
               "or put the quantprep binary on PATH or name it in QUANTPREP_BIN", name)
    return path


def _load_prctl():
    # Resolved here, in the parent: the child may only call it, because it runs
    # between fork and exec, where taking the dynamic loader's locks could hang.
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_prctl = _load_prctl()
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    # The child gets SIGTERM if this process dies, so that a killed Python
    # leaves no server behind.
    _prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


class LocalServer:
    """A `quantprep serve` child listening on 127.0.0.1 at a port the kernel
    chose; use as a context manager. address is its HOST:PORT. extra_args are
    more `serve` flags; they win over the defaults set here."""

    def __init__(self, binary=None, temp_dir=None, extra_args=()):
        self.binary = find_binary(binary)
        self.temp_dir = temp_dir
        self.extra_args = list(extra_args)
        self.proc = None
        self.address = None
        self._log = deque(maxlen=50)
        self._ready = threading.Event()
        self._reader = None

    def __enter__(self):
        args = [self.binary, "serve", "--listen", "127.0.0.1:0", "--workers", "1", "--queue_size", "1",
                "--max_upload_bytes", _NO_LIMIT, "--shutdown_timeout", "1s", "--log_level", "info"]
        if self.temp_dir:
            args += ["--temp_dir", self.temp_dir]
        args += self.extra_args
        # The child's settings are these flags alone: QUANTPREP_* variables meant
        # for a server elsewhere (TLS, limits) must not reach it.
        env = {k: v for k, v in os.environ.items() if not k.startswith("QUANTPREP_")}
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
            preexec_fn=_die_with_parent if _prctl is not None else None)
        self._reader = threading.Thread(target=self._read_log, name="quantprep-serve-log", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self._stop()
                raise errors.UnavailableError(
                    "%s serve did not start: %s" % (self.binary, "\n".join(self._log) or "no output"))
        return self

    def _read_log(self):
        # Drains the child's log (so that it never blocks on a full pipe) and
        # learns the bound address from its "serving" line.
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self._log.append(line)
            if self.address is None:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if isinstance(rec, dict) and str(rec.get("msg", "")).startswith("serving") and rec.get("addr"):
                    self.address = rec["addr"]
                    self._ready.set()

    def log(self):
        """The last lines of the child's log."""
        return list(self._log)

    def _stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._reader is not None:
            self._reader.join(STOP_TIMEOUT)
        self.proc.stderr.close()

    def __exit__(self, *exc):
        self._stop()
        return False
