"""The actions' fill-in wording comes from actions/config/wording.yml, never from Python literals."""

from __future__ import annotations

import datetime as dt

import pytest

from actions import wording


def test_a_history_line_is_city_time_label_and_note():
    line = wording.history_line(dt.datetime(2026, 11, 10, 2, 5, tzinfo=dt.UTC), "已受理", "街道已受理")
    assert line == "11月10日 10:05 已受理：街道已受理"
    assert wording.history_line("2026-11-10T02:05:00", "审核中", "") == "11月10日 10:05 审核中："


def test_another_wording_file_is_used_and_a_missing_key_is_refused(tmp_path, monkeypatch):
    other = tmp_path / "wording.yml"
    keys = {k: f"<{k}>" for k in wording.KEYS}
    other.write_text("\n".join(f'{k}: "{v}"' for k, v in keys.items()), encoding="utf-8")
    monkeypatch.setenv("ACTIONS_WORDING", str(other))
    wording.wording.cache_clear()
    try:
        assert wording.word("unnamed_service") == "<unnamed_service>"
        other.write_text('unnamed_service: "x"\n', encoding="utf-8")
        wording.wording.cache_clear()
        with pytest.raises(ValueError, match="missing wording"):
            wording.word("unnamed_service")
    finally:
        monkeypatch.delenv("ACTIONS_WORDING")
        wording.wording.cache_clear()
