"""The dashboard's booking-velocity alert (casework.guards.PhoneProofs.velocity_alerts)."""

from __future__ import annotations

from casework.guards import PhoneProofs
from tests.staff.conftest import as_user


def test_dashboard_alerts_when_one_client_address_books_too_fast(client, staff):
    proofs = PhoneProofs(staff.casework.factory)
    as_user(client, "editor")
    assert "velocity-alert" not in client.get("/staff/dashboard").get_data(as_text=True)
    for i in range(proofs.limits.max_bookings_per_client + 1):
        proofs.record_booking(booking_ref=f"YY{i:06d}", center_id="tianhe_center", client_hash="ab12cd34ef56ab78",
                              channel="webchat")
    page = client.get("/staff/dashboard").get_data(as_text=True)
    assert "velocity-alert" in page and "来源 ab12cd34" in page
    assert f"{proofs.limits.max_bookings_per_client + 1}个预约" in page
