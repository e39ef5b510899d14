"""The rules every process shares, each once: clock, calendar, identity, pii, textnorm, status, jsonlog.

Standard library + OpenCC (PyYAML, chinese-calendar and phonenumbers imported on first use),
so both venvs (CPython 3.10 and 3.11) can import every module; nothing happens at import.
"""
