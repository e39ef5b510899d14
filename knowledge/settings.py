"""Typed settings of the knowledge base, read lazily from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
SEED_DIR = PACKAGE_DIR / "seed"
LEXICON_DIR = PACKAGE_DIR / "lexicon"
# The government-term dictionary is shared with Rasa's JiebaTokenizer (bot/config.yml).
JIEBA_DICT_DIR = REPO_DIR / "nlu_data" / "jieba_dict"


def default_db_url() -> str:
    """The embedded default: a SQLite file under ``var/`` in the repository."""
    return f"sqlite:///{REPO_DIR / 'var' / 'knowledge.db'}"


@dataclass(frozen=True)
class KnowledgeSettings:
    """Settings of the knowledge base.

    Attributes:
        db_url: SQLAlchemy URL (``KNOWLEDGE_DB_URL``); SQLite file by default.
        jieba_dict_dir: folder of jieba user dictionaries (``KNOWLEDGE_JIEBA_DICT_DIR``).
        synonyms_path: query-expansion synonyms (``KNOWLEDGE_SYNONYMS``).
        calibration_path: confidence calibration parameters (``KNOWLEDGE_CALIBRATION``).
        max_query_chars: longer queries are truncated by the Python API, refused by HTTP.
    """

    db_url: str
    jieba_dict_dir: Path
    synonyms_path: Path
    calibration_path: Path
    max_query_chars: int = 1000

    @classmethod
    def from_env(cls) -> KnowledgeSettings:
        """Read the settings from the environment, with embedded defaults."""
        env = os.environ
        return cls(
            db_url=env.get("KNOWLEDGE_DB_URL") or default_db_url(),
            jieba_dict_dir=Path(env.get("KNOWLEDGE_JIEBA_DICT_DIR") or JIEBA_DICT_DIR),
            synonyms_path=Path(env.get("KNOWLEDGE_SYNONYMS") or LEXICON_DIR / "synonyms.yml"),
            calibration_path=Path(env.get("KNOWLEDGE_CALIBRATION") or LEXICON_DIR / "calibration.yml"),
            max_query_chars=int(env.get("KNOWLEDGE_MAX_QUERY_CHARS") or 1000),
        )


@lru_cache(maxsize=1)
def get_settings() -> KnowledgeSettings:
    """Process-wide settings, read once on first use."""
    return KnowledgeSettings.from_env()
