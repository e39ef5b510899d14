"""The one rasa_sdk action server shared by every channel (``python -m rasa_sdk --actions actions``).

Actions use only ``rasa_sdk``, :mod:`common`, and the repositories and search of
:mod:`knowledge` and :mod:`casework`; never ``rasa``, ``channels``, ``console`` or Flask.
"""
