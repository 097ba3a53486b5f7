"""tessera's exceptions: every error of the C++ library arrives as a subclass of ts.Error carrying its code.

Each code's class also derives from the built-in exception a Python user would expect (ValueError for invalid
arguments, LookupError for missing names, OSError for I/O), so `except ValueError` keeps working.
"""


class Error(Exception):
    """An error reported by tessera. `code` is one of: invalid_argument, not_found, io, corrupt,
    resource_exhausted, cancelled, internal."""

    code = "internal"

    @property
    def _tessera_code(self):  # read by the extension when this error is raised inside a task
        return self.code


class InvalidArgumentError(Error, ValueError):
    """The caller asked for something malformed or contradictory (a shape, an axis, a chunk size, ...)."""
    code = "invalid_argument"


class NotFoundError(Error, LookupError):
    """A named thing (file, variable, task key) does not exist."""
    code = "not_found"


class IoError(Error, OSError):
    """The operating system or a file library reported a failure."""
    code = "io"


class CorruptError(Error, OSError):
    """Data exists but is not what its format promises."""
    code = "corrupt"


class ResourceExhaustedError(Error, RuntimeError):
    """Memory, disk or another resource ran out."""
    code = "resource_exhausted"


class CancelledError(Error, RuntimeError):
    """The run was stopped on request."""
    code = "cancelled"


class InternalError(Error, RuntimeError):
    """A bug in tessera."""
    code = "internal"


class TaskError(Error):
    """A task failed: its function raised (a Python task), or a built-in kernel did.

    Attributes: `key` (the task's key, e.g. "('inc', 3)"), `code`, `rank` (the MPI worker that ran it, -1 for
    local runs), `attempts`, `original` (the task's own message: for a Python task the exception's type and
    message, then its traceback), `exception_type` ("ZeroDivisionError") and `traceback` (the text, or "").
    Under MPI every rank raises the same TaskError.
    """

    def __init__(self, message, key="", code="internal", rank=-1, attempts=1, original=""):
        super().__init__(message)
        self.key = key
        self.code = code
        self.rank = rank
        self.attempts = attempts
        self.original = original
        first, _, rest = original.partition("\n")
        self.exception_type = first.split(":", 1)[0] if rest.startswith("Traceback") else ""
        self.traceback = rest if rest.startswith("Traceback") else ""


CLASSES = {cls.code: cls for cls in (InvalidArgumentError, NotFoundError, IoError, CorruptError,
                                     ResourceExhaustedError, CancelledError, InternalError)}
