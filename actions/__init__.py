"""The one rasa_sdk action server shared by every channel (``python -m rasa_sdk --actions actions``).

Actions use only ``rasa_sdk`` and the knowledge base's repository and search; never
``rasa``, ``channels`` or ``knowledge.web``.
"""
