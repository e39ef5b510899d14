"""WeChat official account (公众号) adapter.

``GET/POST /channels/wechat/webhook`` on the app server (verify · parse · render · adapter),
customer-service messages and the menu over WeChat's API (``api``); ``python -m channels.wechat
menu`` publishes ``menu.yml``.
"""
