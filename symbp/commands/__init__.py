"""Subcommands of the ``symbp`` command, one module each (see :mod:`symbp.cli`)."""
