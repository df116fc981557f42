"""Errors that are the user's to fix.

Anything raised as :class:`IntersurvError` is a mistake in the input (a file,
a column, a patient, an option), not a bug. The command line prints its
one-line message and exits with status 2, without a traceback.
"""


class IntersurvError(Exception):
    """A user-facing error with a one-line message naming what is wrong."""


class CohortError(IntersurvError):
    """A cohort (directory, table or in-memory arrays) failed validation."""
