"""WTForms of the staff console (each carries its CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import BooleanField, DateField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from common.status import APPLICATION_STATUS_LABELS, TOPIC_LABELS
from knowledge.validation import FAQ_TOPICS


def choices(pairs: list[tuple[str, str]]) -> list[SelectChoice]:
    """Select options from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


ROLE_CHOICES = [("editor", "编辑"), ("reviewer", "审核人"), ("admin", "管理员"), ("dispatcher", "派单员"),
                ("handler", "承办人"), ("agent", "人工坐席")]


def department_choices(blank: str = "（无）") -> list[SelectChoice]:
    """The departments of ``casework/departments.yml`` as select options, after a blank one."""
    from casework.departments import load_departments

    return [SelectChoice("", blank), *(SelectChoice(d.id, d.name) for d in load_departments())]


class LoginForm(FlaskForm):
    """Sign in."""

    username = StringField("用户名", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("密码", validators=[DataRequired(), Length(max=200)])


class PasswordForm(FlaskForm):
    """Change one's own password."""

    current = PasswordField("当前密码", validators=[DataRequired()])
    new = PasswordField("新密码", validators=[DataRequired(), Length(min=10, max=200)])
    confirm = PasswordField("确认新密码", validators=[EqualTo("new", message="两次输入的新密码不一致")])


class FaqForm(FlaskForm):
    """Create or edit an FAQ (the review workflow decides when it goes live)."""

    question = StringField("标准问题", validators=[DataRequired(), Length(max=1000)])
    alternatives = TextAreaField("其他问法（每行一个）", validators=[Optional()])
    answer = TextAreaField("答案", validators=[DataRequired(), Length(max=20000)])
    sms_text = TextAreaField("短信简答", validators=[Optional(), Length(max=500)])
    spoken_text = TextAreaField("语音版（热线朗读）", validators=[Optional(), Length(max=500)])
    service_id = SelectField("关联服务", choices=[], validate_choice=False)
    topic = SelectField("主题", choices=choices([(t, TOPIC_LABELS[t]) for t in FAQ_TOPICS]), default="other")
    owner_department = StringField("责任部门", validators=[Optional(), Length(max=200)])
    effective_from = DateField("生效日期", validators=[Optional()])
    expires_on = DateField("失效日期", validators=[Optional()])

    def data_dict(self) -> dict[str, object]:
        """The record for the repository."""
        return {
            "question": self.question.data,
            "alternatives": [ln.strip() for ln in (self.alternatives.data or "").splitlines() if ln.strip()],
            "answer": self.answer.data,
            "sms_text": (self.sms_text.data or "").strip(),
            "spoken_text": (self.spoken_text.data or "").strip(),
            "service_id": self.service_id.data or None,
            "topic": self.topic.data,
            "owner_department": self.owner_department.data or "",
            "effective_from": self.effective_from.data,
            "expires_on": self.expires_on.data,
        }


class ServiceForm(FlaskForm):
    """Create or edit a service guide (live at once, audited)."""

    id = StringField("服务编号", validators=[DataRequired(), Length(max=64)])
    name = StringField("服务名称", validators=[DataRequired(), Length(max=200)])
    category = StringField("类别", validators=[DataRequired(), Length(max=64)])
    audience = SelectField("服务对象", choices=choices([("citizen", "个人"), ("enterprise", "企业")]))
    department = StringField("主管部门", validators=[DataRequired(), Length(max=200)])
    summary = TextAreaField("简介", validators=[DataRequired()])
    keywords = TextAreaField("关键词（每行一个）", validators=[Optional()])
    eligibility = TextAreaField("办理条件", validators=[DataRequired()])
    materials = TextAreaField("所需材料（每行一项）", validators=[DataRequired()])
    steps = TextAreaField("办理流程（每行一步）", validators=[DataRequired()])
    locations = TextAreaField("办理地点", validators=[DataRequired()])
    time_limit = StringField("办理时限", validators=[DataRequired()])
    fees = StringField("收费标准", validators=[DataRequired()])
    online_url = StringField("网上办理地址", validators=[Optional(), Length(max=500)])
    forms = TextAreaField("表格（每行：名称 | 网址）", validators=[Optional()])
    legal_basis = TextAreaField("法律依据（每行一项）", validators=[Optional()])
    online_only = BooleanField("只能网上办理（不接受窗口预约）")
    online_route = StringField("网上办理途径", validators=[Optional(), Length(max=300)])

    def data_dict(self, channel_forms: dict[str, dict[str, str]] | None = None) -> dict[str, object]:
        """The record for the repository, with the per-section short forms edited beside the guide."""
        def lines(value: str | None) -> list[str]:
            return [ln.strip() for ln in (value or "").splitlines() if ln.strip()]

        forms = []
        for ln in lines(self.forms.data):
            name, _, url = ln.partition("|")
            forms.append({"name": name.strip(), "url": url.strip()})
        return {
            "id": (self.id.data or "").strip(), "name": self.name.data, "category": self.category.data,
            "audience": self.audience.data, "department": self.department.data, "summary": self.summary.data,
            "keywords": lines(self.keywords.data), "eligibility": self.eligibility.data,
            "materials": lines(self.materials.data), "steps": lines(self.steps.data),
            "locations": self.locations.data, "time_limit": self.time_limit.data, "fees": self.fees.data,
            "online_url": self.online_url.data or "", "forms": forms, "legal_basis": lines(self.legal_basis.data),
            "online_only": bool(self.online_only.data), "online_route": (self.online_route.data or "").strip(),
            "channel_forms": channel_forms or {},
        }


class ImportForm(FlaskForm):
    """Upload a CSV, XLSX or YAML file."""

    file = FileField("文件", validators=[FileRequired("请选择文件"),
                                         FileAllowed(["csv", "xlsx", "yml", "yaml"], "仅支持 CSV、XLSX、YAML")])
    dry_run = BooleanField("仅预演（不写入）", default=True)


class UserForm(FlaskForm):
    """Create a staff account."""

    username = StringField("用户名", validators=[DataRequired(), Length(min=3, max=64)])
    display_name = StringField("姓名", validators=[Optional(), Length(max=100)])
    role = SelectField("角色", choices=choices(ROLE_CHOICES))
    department = SelectField("所属部门（承办人必选）", choices=department_choices, default="")
    password = PasswordField("初始密码", validators=[DataRequired(), Length(min=10, max=200)])


class UserEditForm(FlaskForm):
    """Change an account's role, status or password."""

    display_name = StringField("姓名", validators=[Optional(), Length(max=100)])
    role = SelectField("角色", choices=choices(ROLE_CHOICES))
    department = SelectField("所属部门（承办人必选）", choices=department_choices, default="")
    active = BooleanField("启用")
    password = PasswordField("重设密码（留空不改）", validators=[Optional(), Length(min=10, max=200)])


class ApplicationStatusForm(FlaskForm):
    """Record a new status of an application."""

    status = SelectField("新状态", choices=choices(list(APPLICATION_STATUS_LABELS.items())))
    note = TextAreaField("说明（申请人可见）", validators=[DataRequired(), Length(max=1000)])
    next_step = StringField("下一步提示", validators=[Optional(), Length(max=500)])


class CaseAssignForm(FlaskForm):
    """Route a case to a department (dispatchers)."""

    department = SelectField("承办部门", choices=lambda: department_choices("请选择部门")[1:], validate_choice=True)
    note = StringField("派单说明", validators=[Optional(), Length(max=500)])


class CaseReasonForm(FlaskForm):
    """Return a case to the dispatcher, or reopen it: a reason is required."""

    reason = TextAreaField("原因", validators=[DataRequired("请填写原因"), Length(max=1000)])


class CaseCloseForm(FlaskForm):
    """Close a case (a note is required when it was never answered)."""

    note = StringField("办结说明", validators=[Optional(), Length(max=1000)])


class CaseReplyForm(FlaskForm):
    """The department's answer, as the citizen will read it."""

    text = TextAreaField("答复内容（市民可见）", validators=[DataRequired("请填写答复内容"), Length(min=2, max=2000)])


class ReplyTemplateForm(FlaskForm):
    """A reusable reply text."""

    title = StringField("模板名称", validators=[DataRequired(), Length(max=100)])
    body = TextAreaField("模板内容", validators=[DataRequired(), Length(max=2000)])
