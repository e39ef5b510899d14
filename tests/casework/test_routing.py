"""The department router: trains on the written examples, routes clear held-out texts, learns from staff."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from casework.departments import department_names
from casework.routing import (
    EXAMPLES_FILE,
    DepartmentRouter,
    LabelledText,
    RouterModel,
    RouterSettings,
    load_examples,
    train,
)
from casework.routing_store import RoutingDecisions, make_router

# Written for this test and absent from routing_examples.yml (checked below): clear cases only.
HELD_OUT = [
    ("我哋栋楼嘅电梯成日坏，物业收咗维修费又唔修", "urban_construction"),
    ("开发商说好年底交楼，现在又拖到明年", "urban_construction"),
    ("隔篱工厂半夜排黑烟，成条村都系臭味", "environment"),
    ("河里的水被上游的厂污染得发黑发臭", "environment"),
    ("公交车等了一个钟都冇一班，可唔可以加车", "transport"),
    ("的士司机不打表，坐一段路要我八十块", "transport"),
    ("孩子读小学划片不合理，要走好远去上学", "education_culture"),
    ("学校老师逼学生报收费补习班", "education_culture"),
    ("工厂老板拖欠我们半年工资不发", "labour_social_security"),
    ("公司没有给员工买社保，怎么投诉", "labour_social_security"),
    ("医院急诊等了五个钟都冇医生睇", "health"),
    ("医生开了一堆不需要的检查，收费好贵", "health"),
    ("旅游团导游逼我们买东西，不买就骂人", "commerce_tourism"),
    ("景区里面的餐厅一碗面卖八十蚊，宰客", "commerce_tourism"),
    ("有人在网上冒充客服骗了我五千块", "public_security"),
    ("身份证唔见咗，点样补办", "public_security"),
    ("餐厅的菜里吃出了苍蝇，卫生太差", "market_regulation"),
    ("药店卖假药，吃了一点效果都冇", "market_regulation"),
    ("老人家申请低保被街道拒绝", "civil_affairs"),
    ("养老院护工打老人，要求严查", "civil_affairs"),
    ("医保卡在外地看病不能报销", "medical_insurance"),
    ("公司不给员工交住房公积金", "housing_fund"),
]


@pytest.fixture(scope="module")
def model() -> RouterModel:
    """One model trained on the committed examples (training is deterministic and the model immutable)."""
    return train(load_examples(EXAMPLES_FILE))


def test_examples_cover_every_department_with_hundreds_of_texts() -> None:
    examples = load_examples()
    per_dep = {d: sum(e.department == d for e in examples) for d in department_names()}
    assert min(per_dep.values()) >= 150, per_dep
    assert sum(per_dep[d] >= 250 for d in per_dep) >= 10, per_dep
    texts = {e.text for e in examples}
    assert not [t for t, _ in HELD_OUT if t in texts]


def test_router_routes_held_out_clear_texts(model: RouterModel) -> None:
    wrong = [(t, d, model.suggest(t).department) for t, d in HELD_OUT if model.suggest(t).department != d]
    assert len(wrong) <= 2, wrong  # at most 2 of 22 (≈ 91 %)


def test_suggestion_is_a_calibrated_top_three(model: RouterModel) -> None:
    s = model.suggest("小区门口条路烂晒，落雨全部系水", location="东湖街道")
    assert len(s.ranking) == 3 and s.ranking[0] == (s.department, s.confidence)
    probs = [p for _, p in s.ranking]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    assert all(d in department_names() for d, _ in s.ranking)
    vague = model.suggest("你好")
    assert vague.confidence < s.confidence


SMALL = """\
frames: ["{t}", "投诉{t}", "请问{t}点算"]
departments:
  labour_social_security:
    topics: [拖欠工资, 不买社保, 工伤认定, 加班费]
    examples: [老板走佬冇出粮, 失业金点样领]
  civil_affairs:
    topics: [低保申请, 养老院, 结婚登记, 残疾人补贴]
    examples: [高龄津贴冇发, 殡仪馆乱收费]
  transport:
    topics: [公交太少, 的士拒载, 公路烂晒, 驾校收费]
    examples: [地铁出口太少, 长途车超载]
"""


@pytest.fixture
def small_settings(tmp_path: Path) -> RouterSettings:
    """A router with a small examples file (fast to train) and its model under ``tmp_path``."""
    examples = tmp_path / "examples.yml"
    examples.write_text(SMALL, encoding="utf-8")
    return RouterSettings(tmp_path / "m.joblib", examples)


def test_model_file_round_trip_and_training_on_first_use(small_settings: RouterSettings) -> None:
    path = small_settings.model_path
    router = DepartmentRouter(small_settings)
    assert not path.exists()
    first = router.suggest("老板拖欠工资三个月")
    assert path.is_file() and first.department == "labour_social_security"
    loaded = RouterModel.load(path)
    assert loaded is not None and loaded.suggest("老板拖欠工资三个月") == first
    path.write_bytes(b"not a model")
    assert RouterModel.load(path) is None
    assert router.suggest("公交车太少").department == "transport"   # the broken file is replaced
    assert RouterModel.load(path) is not None


def test_training_needs_two_departments() -> None:
    with pytest.raises(ValueError):
        train([LabelledText("a", "health"), LabelledText("b", "health")])


@pytest.fixture
def decisions(db_url: str) -> Iterator[RoutingDecisions]:
    from knowledge.db import make_engine, session_factory

    engine = make_engine(db_url)
    yield RoutingDecisions(session_factory(engine))
    engine.dispose()


def test_decisions_are_masked_counted_and_taught(decisions: RoutingDecisions, small_settings: RouterSettings
                                                ) -> None:
    decisions.record_decision("我电话13812345678，星光币兑换站唔退钱", "commerce_tourism", "civil_affairs",
                              "dispatcher1", "TS2612030001")
    decisions.record_decision("星光币兑换站押金退唔到", "civil_affairs", "civil_affairs", "dispatcher1",
                              "TS2612030002")
    decisions.record_decision("星光币兑换站又收多钱", "", "civil_affairs", "dispatcher1", "TS2612030003")
    decisions.record_decision("星光币兑换站关门", "civil_affairs", "commerce_tourism", "d2", "TS2612030004")
    decisions.record_decision("星光币兑换站关门", "commerce_tourism", "civil_affairs", "d2", "TS2612030004")
    stats = decisions.stats()
    assert (stats.decisions, stats.with_suggestion, stats.agreed) == (5, 4, 1)
    assert stats.agreement_rate == 0.25
    rows = decisions.training_rows()
    assert len(rows) == 4 and all(r.department == "civil_affairs" and r.weight > 1 for r in rows)
    assert "13812345678" not in " ".join(r.text for r in rows)
    with pytest.raises(ValueError):
        decisions.record_decision("x", None, "", "a", "")

    text = "星光币兑换站唔肯退钱"
    before = dict(DepartmentRouter(small_settings).suggest(text).ranking).get("civil_affairs", 0.0)
    router = make_router(decisions.factory, small_settings)
    report = router.retrain()
    assert (report.decisions, report.path) == (4, small_settings.model_path)
    after = router.suggest(text)
    assert after.department == "civil_affairs" and after.confidence > before
    other = make_router(decisions.factory, small_settings)   # another process sees the retrained file
    assert other.suggest(text).department == "civil_affairs"
