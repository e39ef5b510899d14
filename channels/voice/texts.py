"""Channel-level IVR prompts (Chinese) and keypad conventions; dialogue wording lives in the Rasa domain.

Keypad: in the main menu 1 办事指南, 2 预约办理, 3 查询办理进度, 9 重听, 0 人工服务. During a
conversation the digits 1–5 pick spoken options, the next free digit (1 without options)
sends the answer by SMS, 9 repeats, 0 asks for a human and ``*`` returns to the main menu;
numbers (application numbers, booking references, the last four digits) are typed and
finished with ``#`` when the bot's message carries a ``{"expect": "digits"|"phone"}`` hint
(never decided by its wording); ``*`` stands for the letter X where the hint allows it.
"""

from __future__ import annotations

GREETING = "您好，欢迎致电市民服务热线智能助手。"
RECORDING_NOTICE = "为了提升服务质量，您的通话可能会被录音。"
MENU = ("办事指南请按1，预约办理请按2，查询办理进度请按3，重听请按9，人工服务请按0。"
        "您也可以直接说出您要办的事。")
GUIDE_PROMPT = "请说出您要咨询的事项，例如：办护照要带什么材料。"
NEXT_PROMPT = "请问还有什么可以帮您？您可以直接说，返回主菜单请按星号键。"
NUMBER_ENTRY = "请用电话按键输入，输入完毕请按井号键。"
OPTION = "{title}，请按{digit}。"
MORE_OPTIONS = "其他选择，您也可以直接说出来。"
READBACK = "您输入的是：{digits}。确认请按1，重新输入请按2。"
REENTER = "好的，请重新输入，输入完毕请按井号键。"
SMS_OFFER = "按{digit}把详细内容发短信给您。"  # 1, or the first key after the spoken options
SMS_SENT = "详细内容已发送到您的手机，请注意查收。"
SMS_NOT_SENT = "抱歉，短信暂时无法发送，您可以稍后再试，或拨打12345查询。"
NO_INPUT = "抱歉，没有听到您的声音。"
NO_MATCH = "抱歉，这个按键无效。"
OFFER_HUMAN = "如果需要人工服务，请按0；您也可以继续说出您的问题。"
GOODBYE = "感谢您的来电，再见。"
TRANSFER = "好的，正在为您转接人工服务，请稍候。"
AGENT_UNAVAILABLE = "抱歉，人工服务暂时无法接通，请稍后再拨，或拨打12345。"
AFTER_HOURS = "现在是人工服务的非工作时间。人工服务时间为工作日{start}到{end}，请在这个时间再来电。"
AGENT_BUSY = "抱歉，人工坐席正忙，请稍后再拨。"
UNAVAILABLE = "抱歉，系统暂时繁忙，请稍后再试，或拨打12345。"
PLEASE_WAIT = "请稍候。"

# Core payloads of the main menu (intent payloads bypass NLU; 1 first asks for the question).
MENU_PAYLOADS = {"2": "/book_appointment", "3": "/check_application_status"}
HANDOFF_PAYLOAD = "/request_human"

CHINESE_DIGITS = {"0": "零", "1": "一", "2": "二", "3": "三", "4": "四", "5": "五", "6": "六", "7": "七",
                  "8": "八", "9": "九", "X": "叉"}

# Speech hints of the menu itself; the services' names and the words citizens use for them
# come from the knowledge base when the app server starts (server.app → VoiceSettings.hints).
MENU_HINTS: tuple[str, ...] = ("办事指南", "预约办理", "查询办理进度", "人工服务", "取消预约", "投诉", "重听")
