"""The error a rescoring run raises when it cannot start or continue."""

from __future__ import annotations


class RescoreError(Exception):
    """A run that cannot start or continue; the message says why and what to do."""
