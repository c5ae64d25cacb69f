"""API errors: the exception raised inside the emulator and the JSON body it becomes.

Bodies follow the Databricks shape `{"error_code", "message", "details": [RequestInfo]}`.
Messages name the object involved and never contain a credential.
"""

from __future__ import annotations

import uuid
from typing import Any


class ApiError(Exception):
    """An HTTP error answer: status, Databricks error code, message and extra headers."""

    def __init__(
        self,
        status: int,
        error_code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {
            "error_code": self.error_code,
            "message": self.message,
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.RequestInfo",
                    "request_id": str(uuid.uuid4()),
                    "serving_data": "",
                }
            ],
        }


def invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)


def malformed(message: str) -> ApiError:
    return ApiError(400, "MALFORMED_REQUEST", message)


def invalid_state(message: str) -> ApiError:
    return ApiError(400, "INVALID_STATE", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "RESOURCE_DOES_NOT_EXIST", message)


def already_exists(message: str) -> ApiError:
    return ApiError(409, "RESOURCE_ALREADY_EXISTS", message)


def conflict(message: str) -> ApiError:
    return ApiError(409, "RESOURCE_CONFLICT", message)


def unauthenticated(message: str) -> ApiError:
    return ApiError(401, "UNAUTHENTICATED", message)


def permission_denied(message: str) -> ApiError:
    return ApiError(403, "PERMISSION_DENIED", message)


def quota_exceeded(message: str) -> ApiError:
    return ApiError(400, "QUOTA_EXCEEDED", message)


def rate_limited(message: str, retry_after: int) -> ApiError:
    return ApiError(
        429, "REQUEST_LIMIT_EXCEEDED", message, headers={"Retry-After": str(retry_after)}
    )
