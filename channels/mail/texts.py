"""Channel-level wording of the mailbox replies (Chinese); dialogue wording comes from the Rasa domain."""

from __future__ import annotations

GREETING = "您好："
INTRO_ONE = "您的来信已收到，答复如下："
INTRO_MANY = "您的来信已收到，您提出了{count}个问题，逐一答复如下："
QUESTION_HEADING = "问题{index}：{question}"
OPTION_WORD = "或回复“{title}”。"
OPTIONS_HEADING = "您可以直接回复下列选项前的数字（只回复数字即可）："
TOO_MANY_QUESTIONS = "您的来信问题较多，本次先答复前{limit}个；其余问题请另行来信，或拨打12345市民服务热线咨询。"
ATTACHMENTS_ACK = ("来信附带的{count}个附件（{names}）已收到，但本邮箱暂不能处理附件内容，"
                   "请将需要咨询的内容直接写在正文中。")
NO_ANSWER = "抱歉，暂时没能答复这个问题，请换个说法再来信，或拨打12345市民服务热线咨询。"
CORE_UNAVAILABLE = "抱歉，系统暂时无法答复这个问题，请稍后重新来信，或拨打12345市民服务热线咨询。"
EMPTY_MAIL = "您的来信没有正文内容。请在邮件正文中写明您要咨询或反映的事项，我们会尽快答复。"
OVERSIZED_MAIL = ("您的来信超过了本邮箱可处理的大小（{limit_mb}MB）。请精简内容、不附大附件后重新来信，"
                  "或拨打12345市民服务热线咨询。")
FOOTER = "—— 市民服务助手（本邮件由系统自动答复，请勿转发他人。如需人工服务，请拨打12345市民服务热线，24小时服务。）"
SUBJECT_DEFAULT = "您的来信"
REPLY_PREFIX = "Re: "
