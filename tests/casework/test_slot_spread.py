"""Which free slots the time question offers: spread over the day, in time order."""

from __future__ import annotations

from casework.slots import spread

DAY = ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30", "14:00", "14:30", "15:00", "15:30", "16:00"]


def test_offered_slots_span_the_day_first_and_last_included():
    offered = spread(DAY, 5)
    assert len(offered) == 5 and offered == sorted(offered)
    assert offered[0] == "09:00" and offered[-1] == "16:00" and any(s >= "14:00" for s in offered[1:-1])


def test_few_slots_are_all_offered_and_no_offer_asks_for_none():
    assert spread(DAY[:3], 5) == DAY[:3]
    assert spread(DAY, 1) == ["09:00"] and spread(DAY, 0) == [] and spread([], 3) == []
