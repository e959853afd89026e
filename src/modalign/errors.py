"""Exceptions raised for user mistakes and failed registrations.

The CLI turns a :class:`ModalignError` into one line on stderr and an exit code;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class ModalignError(Exception):
    """Base class of errors that are reported to the user in one line."""

    exit_code = 2


class InputError(ModalignError):
    """A bad input file, array or option (exit code 2)."""

    def __init__(self, source: str, problem: str, hint: str = "") -> None:
        self.source = source
        self.problem = problem
        message = f"{source}: {problem}" if source else problem
        super().__init__(f"{message} ({hint})" if hint else message)


class ConfigError(ModalignError):
    """An unknown key, wrong type or bad value in a configuration (exit code 2)."""


class RegistrationError(ModalignError):
    """The images could not be registered reliably (exit code 3)."""

    exit_code = 3
