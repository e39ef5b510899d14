"""Mail parsing, robot detection, settings and reply rendering (no servers)."""

from __future__ import annotations

import base64
import quopri
import xml.etree.ElementTree as ET
from email import message_from_bytes, policy

import pytest

from channels.core import BotMessage, Button
from channels.mail.parse import html_to_text, parse_mail, split_questions, strip_quotes
from channels.mail.render import Answer, render_reply
from channels.mail.verify import MailSettings, MailSettingsError, automated_reason
from channels.mail.worker import conversation_id, digit_choice

QUESTION = "请问办护照需要带什么材料？"


def raw_mail(body: bytes, charset: str, encoding: str, ctype: str = "text/plain",
             extra: str = "Message-ID: <m1@example.cn>\r\n", subject: str = "咨询") -> bytes:
    subject_charset = "big5" if charset == "big5" else "gb18030"
    head = (f"From: =?utf-8?B?{base64.b64encode('李四'.encode()).decode()}?= <Li.Si@Example.cn>\r\n"
            f"To: 12345@city.example\r\nSubject: =?{charset if charset == subject_charset else 'gb2312'}?B?"
            f"{base64.b64encode(subject.encode(subject_charset)).decode()}?=\r\n"
            f"{extra}MIME-Version: 1.0\r\nContent-Type: {ctype}; charset={charset}\r\n"
            f"Content-Transfer-Encoding: {encoding}\r\n\r\n")
    payload = base64.encodebytes(body) if encoding == "base64" else quopri.encodestring(body)
    return head.encode("ascii") + payload


@pytest.mark.parametrize("charset,label", [("gbk", "gbk"), ("gb18030", "gb18030"), ("gbk", "gb2312"),
                                           ("utf-8", "utf-8"), ("big5", "big5")])
@pytest.mark.parametrize("encoding", ["base64", "quoted-printable"])
def test_decodes_chinese_charsets_and_transfer_encodings(charset: str, label: str, encoding: str) -> None:
    text = "請問辦護照需要帶什麼材料？" if charset == "big5" else "请问办护照需要带什么材料？镕"
    subject = "諮詢" if charset == "big5" else "咨询镕"
    parsed = parse_mail(raw_mail(text.encode(charset), label, encoding, subject=subject))
    assert parsed.body == text  # 镕 is GBK-only: a "gb2312" label still decodes it
    assert parsed.subject == subject
    assert parsed.from_address == "li.si@example.cn" and parsed.from_name == "李四"
    assert parsed.message_id == "<m1@example.cn>"


def test_mislabelled_or_unlabelled_charset_falls_back_without_raising() -> None:
    parsed = parse_mail(raw_mail(QUESTION.encode("gbk"), "utf-8", "base64"))
    assert parsed.body == QUESTION
    parsed = parse_mail(raw_mail(QUESTION.encode("gbk"), "x-unknown-charset", "base64"))
    assert parsed.body == QUESTION


def test_prefers_plain_text_and_converts_html_when_alone() -> None:
    html = ("<html><head><style>p{color:red}</style></head><body><p>请问&nbsp;社保卡<b>怎么补办</b>？</p>"
            "<div class='gmail_quote'><p>以前的邮件</p></div><blockquote>更早的</blockquote>"
            "<script>alert(1)</script></body></html>")
    assert html_to_text(html).split() == ["请问", "社保卡怎么补办？"]
    only_html = raw_mail(html.encode("utf-8"), "utf-8", "base64", ctype="text/html")
    assert parse_mail(only_html).body == "请问 社保卡怎么补办？"
    both = (b"From: a@b.cn\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=XX\r\n\r\n"
            b"--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + "纯文本问题？".encode() +
            b"\r\n--XX\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>" + "网页问题？".encode() +
            b"</p>\r\n--XX--\r\n")
    assert parse_mail(both).body == "纯文本问题？"


@pytest.mark.parametrize("history", [
    "在 2026年11月29日 星期日 10:00，市民服务助手 <12345@city.example> 写道：\n> 您好",
    "------------------ 原始邮件 ------------------\n发件人: 市民服务助手\n主题: Re: 咨询",
    "-----原始邮件-----\n发件人：12345@city.example",
    "On Sun, Nov 29, 2026 at 10:00 AM Bot <12345@city.example> wrote:\n> hello",
    "发件人: 市民服务助手 <12345@city.example>\n发送时间: 2026年11月29日",
    "> 引用的旧内容\n> 第二行",
    "-- \n张三\n手机 13900001234",
    "发自我的iPhone",
])
def test_strips_quoted_history_and_signatures(history: str) -> None:
    assert strip_quotes(f"{QUESTION}\n\n{history}\n") == QUESTION


def test_splits_several_questions_with_their_context_and_caps_them() -> None:
    assert split_questions("您好！\n我想办护照。需要什么材料？另外结婚登记在哪里办？\n谢谢！") == (
        ["我想办护照。需要什么材料？", "另外结婚登记在哪里办？"], 2)
    assert split_questions("关于社保卡：\n1. 补办要多少钱？\n2、在哪里办\n（3）多久能拿到？") == (
        ["关于社保卡，补办要多少钱？", "关于社保卡，在哪里办", "关于社保卡，多久能拿到？"], 3)
    assert split_questions("小区门口的路灯坏了") == (["小区门口的路灯坏了"], 1)
    many = "\n".join(f"{i}. 问题{i}怎么办？" for i in range(1, 9))
    questions, total = split_questions(many, limit=5)
    assert len(questions) == 5 and total == 8
    assert split_questions("您好\n谢谢！") == ([], 0)


def test_lists_attachments_and_survives_garbage() -> None:
    mail = (b"From: a@b.cn\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
            b"--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + QUESTION.encode() + b"\r\n"
            b"--B\r\nContent-Type: image/jpeg\r\nContent-Disposition: attachment; filename=\"=?utf-8?B?" +
            base64.b64encode("现场照片.jpg".encode()) +
            b"?=\"\r\nContent-Transfer-Encoding: base64\r\n\r\n/9j/\r\n--B--\r\n")
    parsed = parse_mail(mail)
    assert parsed.body == QUESTION and parsed.attachments == ("现场照片.jpg",)
    for garbage in (b"", b"\xff\xfe\x00garbage", b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n\xff"):
        parsed = parse_mail(garbage)
        assert parsed.message_id.startswith("<sha256-") and parsed.from_address == ""
    assert parse_mail(b"From: a@b.cn\r\n\r\nx").message_id == parse_mail(b"From: a@b.cn\r\n\r\nx").message_id


def test_complaint_letters_go_to_the_core_whole() -> None:
    body = "我家楼下的工地每天晚上11点后还在施工。\n噪音很大，孩子没法睡觉，请问能不能管一管？\n地址：天河区某某路"
    parsed = parse_mail(f"From: a@b.cn\r\nSubject: 投诉夜间施工噪音\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                        f"{body}".encode())
    assert parsed.complaint
    assert parsed.questions(5) == ([f"投诉夜间施工噪音：{body}"], 1)
    answer = parse_mail("From: a@b.cn\r\nSubject: Re: 投诉夜间施工噪音\r\nIn-Reply-To: <r@x>\r\n"
                        "Content-Type: text/plain; charset=utf-8\r\n\r\n天河区体育西路。\n> 问题发生在哪里？".encode())
    assert answer.questions(5) == (["天河区体育西路。"], 1)


@pytest.mark.parametrize("headers,reason", [
    ("Auto-Submitted: auto-replied\r\n", "auto-submitted"),
    ("Auto-Submitted: auto-generated\r\n", "auto-submitted"),
    ("Precedence: junk\r\n", "precedence"),
    ("List-Unsubscribe: <mailto:x@y>\r\n", "mailing list"),
    ("Return-Path: <>\r\n", "null return path"),
    ("X-Autoreply: yes\r\n", "auto-reply header"),
    ("Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n", "delivery or disposition report"),
])
def test_robot_mail_is_recognised(headers: str, reason: str) -> None:
    msg = message_from_bytes(f"From: someone@example.cn\r\n{headers}\r\n".encode())
    assert automated_reason(msg) == reason


@pytest.mark.parametrize("sender,expected", [
    ("noreply@example.cn", "no-reply sender"), ("No_Reply@example.cn", "no-reply sender"),
    ("donotreply@example.cn", "no-reply sender"), ("MAILER-DAEMON@example.cn", "no-reply sender"),
    ("bot@city.example", "own address"), ("wang.wu@example.cn", None), ("noreen@example.cn", None),
])
def test_no_reply_and_own_senders(sender: str, expected: str | None) -> None:
    msg = message_from_bytes(f"From: {sender}\r\nAuto-Submitted: no\r\n\r\n".encode())
    assert automated_reason(msg, ("bot@city.example",)) == expected


def test_settings_fail_closed_naming_every_missing_variable() -> None:
    with pytest.raises(MailSettingsError) as err:
        MailSettings.from_env({"MAIL_IMAP_SSL": "maybe", "MAIL_SMTP_USER": "u"})
    for name in ("MAIL_IMAP_HOST", "MAIL_IMAP_USER", "MAIL_IMAP_PASSWORD", "MAIL_SMTP_HOST", "MAIL_SMTP_FROM",
                 "MAIL_IMAP_SSL", "MAIL_SMTP_PASSWORD"):
        assert name in str(err.value)
    ok = MailSettings.from_env({"MAIL_IMAP_HOST": "imap.x", "MAIL_IMAP_USER": "u", "MAIL_IMAP_PASSWORD": "p",
                                "MAIL_SMTP_HOST": "smtp.x", "MAIL_SMTP_FROM": "12345@city.example"})
    assert (ok.imap_port, ok.imap_ssl, ok.smtp_port, ok.smtp_starttls, ok.folder) == (993, True, 587, True, "INBOX")


def test_reply_numbers_options_across_questions_and_escapes_html() -> None:
    original = parse_mail(b"From: a@b.cn\r\nSubject: Re: =?utf-8?B?" + base64.b64encode("咨询".encode()) +
                          b"?=\r\nMessage-ID: <orig@b.cn>\r\nReferences: <r0@x>\r\n\r\nq")
    answers = [
        Answer("第一个问题<script>？", (BotMessage(text="答案一 <b>不是标签</b>",
                                                buttons=(Button("确认预约", "/affirm"), Button("取消", "/deny"))),)),
        Answer("第二个问题？", (BotMessage(text="", buttons=(Button("转人工", "/request_human"),)),)),
        Answer("第三个问题？", ()),
    ]
    rendered = render_reply(original, answers, "市民服务助手 <12345@city.example>", total_questions=7, limit=3)
    assert rendered.options == ("/affirm", "/deny", "/request_human")
    msg = message_from_bytes(rendered.message.as_bytes(), policy=policy.default)
    assert msg["Subject"] == "Re: 咨询" and msg["In-Reply-To"] == "<orig@b.cn>"
    assert msg["References"] == "<r0@x> <orig@b.cn>" and msg["Auto-Submitted"] == "auto-replied"
    plain = msg.get_body(preferencelist=("plain",)).get_content()
    assert "1. 确认预约" in plain and "2. 取消" in plain and "3. 转人工" in plain
    assert "本次先答复前3个" in plain and "暂时没能答复这个问题" in plain
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert "<script>" not in html and "&lt;b&gt;不是标签&lt;/b&gt;" in html
    root = ET.fromstring(html.split("\n", 1)[1].replace("<br>", "<br/>").replace('<meta charset="utf-8">', ""))
    assert [li.get("value") for li in root.iter("li")] == ["1", "2", "3"]


def test_digit_choice_and_conversation_ids() -> None:
    assert digit_choice("２", ["/affirm", "/deny"]) == "/deny"
    assert digit_choice(" 1。", ["/affirm"]) == "/affirm"
    assert digit_choice("3", ["/affirm"]) is None and digit_choice("1", None) is None
    assert digit_choice("12345", ["/a"]) is None
    assert conversation_id("Li.Si@Example.cn") == conversation_id("li.si@example.cn")
    cid = conversation_id("li.si@example.cn")
    assert cid.startswith("mail-") and "li.si" not in cid
