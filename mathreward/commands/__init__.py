"""Subcommands of the ``mathreward`` console script, one module each (see :mod:`mathreward.cli`)."""
