"""The error tree. Every user-facing failure is a ReconcilerError whose str() is one line.

ReconcilerError                 user-facing; the CLI prints `error: <str(e)>` and exits 1
  ConfigError                   invalid files or settings; `.diagnostics` holds every problem
  UsageError                    a bad combination of command-line options (exit 64)
  AuthError                     no usable credentials, or the workspace refused them
  ApiError                      a non-2xx answer: `.status .error_code .method .path .message`
    NotFound                    404 RESOURCE_DOES_NOT_EXIST
    Conflict                    409: already exists, or mid-update (RESOURCE_CONFLICT)
    RateLimited                 429 after the retry budget was spent
    PermissionDenied            401/403
  TransportError                the workspace could not be reached within the retry budget,
                                or a proxy or CA bundle named by the environment is unusable
  StalePlan                     a saved plan no longer matches live state (exit 3)
  WaitTimeout                   an endpoint is still updating after the timeout (exit 4)
  ApplyError                    a plan that cannot be applied as it stands; nothing was changed
Anything else is a bug: the CLI prints a one-line hint plus the traceback and exits 70.
Messages never contain credentials: the client builds them from status, code and path only.
"""

from __future__ import annotations

from collections.abc import Sequence

from .model import Diagnostic


class ReconcilerError(Exception):
    """Root of every error a user may see. `exit_code` is what the CLI returns for it."""

    exit_code = 1


class ConfigError(ReconcilerError):
    def __init__(self, diagnostics: Sequence[Diagnostic], message: str = "") -> None:
        self.diagnostics = tuple(diagnostics)
        errors = sum(1 for d in self.diagnostics if d.is_error)
        files = len({d.source.path for d in self.diagnostics if d.source and d.is_error})
        super().__init__(message or _count_message(errors, files))


def _count_message(errors: int, files: int) -> str:
    e = "error" if errors == 1 else "errors"
    if files == 0:
        return f"{errors} {e}"
    f = "file" if files == 1 else "files"
    return f"{errors} {e} in {files} {f}"


class UsageError(ReconcilerError):
    exit_code = 64


class AuthError(ReconcilerError):
    pass


class ApiError(ReconcilerError):
    def __init__(
        self,
        *,
        status: int,
        method: str,
        path: str,
        error_code: str = "",
        message: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.error_code = error_code
        self.message = message
        self.retry_after = retry_after
        code = f" {error_code}" if error_code else ""
        text = f": {message}" if message else ""
        super().__init__(f"{method} {path} failed with HTTP {status}{code}{text}")


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class RateLimited(ApiError):
    pass


class PermissionDenied(ApiError):
    """401/403, with what to do next appended (the API's own message names only the lack)."""

    def __str__(self) -> str:
        if self.status == 401:
            hint = "check the credentials for this target (token, profile or OAuth client)"
        elif "/serving-endpoints/" in self.path:
            hint = (
                "the identity running servingops needs CAN_MANAGE on the endpoint; "
                "ask its owner or a workspace admin to grant it"
            )
        else:
            hint = "ask a workspace admin for access to Model Serving"
        return f"{super().__str__().rstrip('.')}; {hint}"


class TransportError(ReconcilerError):
    pass


class StalePlan(ReconcilerError):
    exit_code = 3


class WaitTimeout(ReconcilerError):
    exit_code = 4


class ApplyError(ReconcilerError):
    pass
