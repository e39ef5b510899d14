"""Status vocabularies: the codes of every work item and their Chinese labels, once.

The citizen side (action server) and the staff side (console) both name a status by its
code and show the label from here, so a citizen never reads 已核准 where staff chose
已批准. Codes are what the database stores; labels are for people.
"""

from __future__ import annotations

import enum
import sys

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # CPython 3.10 (Rasa venv): the same behaviour for our purposes
    class StrEnum(str, enum.Enum):
        """A ``str`` enum whose ``str()`` is its value (``enum.StrEnum`` of 3.11)."""

        def __str__(self) -> str:
            return str(self.value)


class BookingStatus(StrEnum):
    """Lifecycle of a booking."""

    active = "active"
    cancelled = "cancelled"
    expired = "expired"  # its date has passed


class ApplicationStatus(StrEnum):
    """Lifecycle of an application (what staff can set in the console)."""

    received = "received"
    reviewing = "reviewing"
    need_more = "need_more"
    approved = "approved"
    rejected = "rejected"
    ready = "ready"
    done = "done"


class CaseStatus(StrEnum):
    """Lifecycle of a case (工单): received → assigned → in_progress → replied → closed.

    ``transferred`` (sent back to the dispatcher by a department, with a reason) and
    ``reopened`` (a dissatisfied citizen or staff) re-enter the flow; ``done`` is the
    closed state of cases stored before the case desk existed and is read as closed.
    """

    received = "received"
    assigned = "assigned"
    in_progress = "in_progress"
    transferred = "transferred"
    replied = "replied"
    closed = "closed"
    reopened = "reopened"
    done = "done"


class CaseKind(StrEnum):
    """What a citizen case is (the 12345 centre's 工单 types)."""

    complaint = "complaint"
    help = "help"
    suggestion = "suggestion"
    inquiry = "inquiry"
    report = "report"


BOOKING_STATUS_LABELS: dict[str, str] = {
    BookingStatus.active: "有效",
    BookingStatus.cancelled: "已取消",
    BookingStatus.expired: "已过期",
}

APPLICATION_STATUS_LABELS: dict[str, str] = {
    ApplicationStatus.received: "已受理",
    ApplicationStatus.reviewing: "审核中",
    ApplicationStatus.need_more: "需补充材料",
    ApplicationStatus.approved: "已批准",
    ApplicationStatus.rejected: "不予批准",
    ApplicationStatus.ready: "已办好，可领取",
    ApplicationStatus.done: "已办结",
}

CASE_STATUS_LABELS: dict[str, str] = {
    CaseStatus.received: "已受理",
    CaseStatus.assigned: "已派单至承办部门",
    CaseStatus.in_progress: "承办部门处理中",
    CaseStatus.transferred: "退回重新派单",
    CaseStatus.replied: "已答复",
    CaseStatus.closed: "已办结",
    CaseStatus.reopened: "已重新办理",
    CaseStatus.done: "已办结",
}

CASE_KIND_LABELS: dict[str, str] = {
    CaseKind.complaint: "投诉",
    CaseKind.help: "求助",
    CaseKind.suggestion: "建议",
    CaseKind.inquiry: "咨询留言",
    CaseKind.report: "举报",
}

# FAQ topics (knowledge.validation.FAQ_TOPICS) as the citizen and the staff read them.
TOPIC_LABELS: dict[str, str] = {
    "materials": "所需材料",
    "fees": "收费",
    "time": "办理时限",
    "place": "办理地点",
    "eligibility": "办理条件",
    "process": "办理流程",
    "online": "网上办理",
    "other": "其他",
}


def status_label(code: str) -> str:
    """The Chinese label of an application or case status code (the code itself when unknown).

    Applications and cases share one status history view, so their codes share one lookup.
    """
    return APPLICATION_STATUS_LABELS.get(code) or CASE_STATUS_LABELS.get(code) or code
