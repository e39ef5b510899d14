"""The router's console page: agreement of suggestions with staff, and retraining behind CSRF."""

from __future__ import annotations

from pathlib import Path

from casework.routing_store import RoutingDecisions
from tests.staff.conftest import as_user, post


def test_admin_sees_agreement_and_retrains(client, staff) -> None:
    from console.web.deps import factory

    with staff.app.app_context():
        store = RoutingDecisions(factory())
    store.record_decision("楼下大排档油烟好大", "environment", "environment", "admin", "TS2612030101")
    store.record_decision("路口红绿灯坏咗", "transport", "public_security", "admin", "TS2612030102")
    as_user(client, "admin")
    page = client.get("/staff/routing").get_data(as_text=True)
    assert "派单建议" in page and "50.0%" in page and "尚未训练" in page

    model = Path(staff.app.config["CASEWORK_ROUTER_MODEL"])
    assert client.post("/staff/routing/retrain", data={}).status_code == 400   # no CSRF token
    assert not model.exists()
    res = post(client, "/staff/routing/retrain", follow_redirects=True)
    assert res.status_code == 200 and "2 条人工派单记录" in res.get_data(as_text=True)
    assert model.is_file()

    tried = client.get("/staff/routing", query_string={"text": "老板拖欠三个月工资"}).get_data(as_text=True)
    assert "劳动和社会保障" in tried
