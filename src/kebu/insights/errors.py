"""Errors of the insights area."""

from kebu.core.errors import KebuError


class TooFewData(KebuError):
    """The shop's data cannot support this analysis yet; the message says what is missing. A run that
    raises it is recorded as done, with the message in place of figures that would only be noise."""

    code = "too_few_data"
