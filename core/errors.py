"""Domain errors. The API maps each to one HTTP status with a message that says what is wrong."""

from __future__ import annotations


class DomainError(Exception):
    """Base class: `status` is the HTTP status the gateway answers with."""

    status = 400

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class InvalidInput(DomainError):
    status = 400


class Unauthenticated(DomainError):
    status = 401


class Forbidden(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class TooManyRequests(DomainError):
    status = 429


class ServiceUnavailable(DomainError):
    status = 503
