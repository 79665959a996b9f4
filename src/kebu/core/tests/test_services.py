"""Shared write helpers."""

from __future__ import annotations

import pytest

from kebu.core.models import Sequence
from kebu.core.services import sequence_next

pytestmark = pytest.mark.django_db


def test_a_sequence_starts_at_one_and_hands_out_each_number_once():
    assert not Sequence.objects.filter(name="test").exists()
    assert sequence_next(name="test") == 1
    assert sequence_next(name="test", count=10) == 2  # 2 … 11 reserved
    assert sequence_next(name="test") == 12
    assert sequence_next(name="other") == 1
    assert Sequence.objects.get(name="test").value == 12
