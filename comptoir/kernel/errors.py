"""One error type with stable codes, mapped once for the API and once for the UI.

Services raise ``DomainError`` (or a subclass); nothing else about errors is decided in
views or endpoints. Codes are stable strings that clients may rely on.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    """A business rule said no. ``status`` is the HTTP status the API answers with."""

    status = 409
    default_code = "conflict"

    def __init__(
        self,
        code: str | None = None,
        message: Any = None,
        *,
        fields: dict[str, list[str]] | None = None,
    ) -> None:
        self.code = code or self.default_code
        self.message = str(message) if message is not None else self.code
        self.fields = fields or {}
        super().__init__(self.message)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "fields": self.fields}


class NotFound(DomainError):
    """The row does not exist or the actor may not see it (never tell which)."""

    status = 404
    default_code = "not_found"

    def __init__(self, code: str | None = None, message: Any = None, **kwargs: Any) -> None:
        super().__init__(code, message or _("Not found."), **kwargs)


class PermissionDenied(DomainError):
    """The actor sees the row but may not take this action."""

    status = 403
    default_code = "permission_denied"

    def __init__(self, code: str | None = None, message: Any = None, **kwargs: Any) -> None:
        super().__init__(code, message or _("You are not allowed to do this."), **kwargs)


class Conflict(DomainError):
    """The action is not possible in the current state (workflow, uniqueness, lock)."""

    status = 409
    default_code = "conflict"


class ValidationFailed(DomainError):
    """The input is invalid; ``fields`` maps each field to its messages."""

    status = 422
    default_code = "validation_failed"

    def __init__(self, code: str | None = None, message: Any = None, **kwargs: Any) -> None:
        super().__init__(code, message or _("The input is invalid."), **kwargs)


def from_django_validation(exc: Any) -> ValidationFailed:
    """Turn a django ValidationError (from full_clean) into our ValidationFailed."""
    if hasattr(exc, "message_dict"):
        fields = {k: [str(m) for m in v] for k, v in exc.message_dict.items()}
    else:
        fields = {"__all__": [str(m) for m in exc.messages]}
    return ValidationFailed(fields=fields)
