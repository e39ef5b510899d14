"""Channel-level wording of the Telegram adapter (Chinese); dialogue wording comes from the Rasa domain."""

from __future__ import annotations

HELP = ("您好，这里是市民服务助手。请直接发送您要咨询或办理的事项，"
        "例如“结婚登记要带什么”“预约办理社保卡”“查询办件进度”。\n"
        "出现按钮时可直接点选。/start 重新开始，/help 查看本说明。人工服务请拨打12345市民服务热线（24小时）。")
UNAVAILABLE = "网络或服务暂时不可用，请稍后再试，或拨打12345市民服务热线。"
RATE_LIMITED = "您发送得太快了，请稍等一分钟再发送。"
UNSUPPORTED = "目前只能处理文字消息，请用文字描述您要咨询的事项。"
OPTION_EXPIRED = "这个选项已过期，请重新发送您的问题。"
OPTION_CHOSEN = "已选择：{title}"
CHOOSE = "请选择："
NO_REPLY = "暂未收到回复，您可以换个说法再试，或拨打12345咨询。"
