"""Our own lints of the NLU data: counts, duplicates, token-aligned entities, no real numbers."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import pytest
import yaml

from common.textnorm import normalize, normalize_aligned
from knowledge.settings import JIEBA_DICT_DIR, SEED_DIR
from tests.conftest import SHARED
from tests.domain_files import domain, intent_examples, strip_annotations

CONTRACT_INTENTS = {"greet", "goodbye", "thank", "affirm", "deny", "ask_service_guide", "book_appointment",
                    "cancel_appointment", "query_appointment", "check_application_status", "request_human",
                    "complain", "out_of_scope", "inform"}


@pytest.fixture(scope="module")
def examples():
    return intent_examples()


@pytest.fixture(scope="module")
def jieba_tokenizer():
    import jieba

    tk = jieba.Tokenizer()
    tk.initialize()
    for path in sorted(JIEBA_DICT_DIR.glob("*.txt")):
        tk.load_userdict(str(path))
    return tk


def test_contract_intents_exist_in_domain_and_data(examples):
    assert set(domain()["intents"]) >= CONTRACT_INTENTS
    assert set(examples) >= CONTRACT_INTENTS


def test_at_least_40_examples_per_intent(examples):
    small = {intent: len(rows) for intent, rows in examples.items() if len(rows) < 40}
    assert small == {}


def test_no_example_belongs_to_two_intents(examples):
    owner: dict[str, set[str]] = defaultdict(set)
    for intent, rows in examples.items():
        for _, raw in rows:
            owner[normalize(strip_annotations(raw)[0])].add(intent)
    clashes = {text: intents for text, intents in owner.items() if len(intents) > 1}
    assert clashes == {}


def test_entity_spans_cover_whole_jieba_tokens(examples, jieba_tokenizer):
    bad = []
    for intent, rows in examples.items():
        for name, raw in rows:
            text, entities = strip_annotations(raw)
            norm = normalize_aligned(text)
            bounds = {0}
            for _, start, end in jieba_tokenizer.tokenize(norm):
                bounds.update((start, end))
            for start, end, entity, _ in entities:
                if start not in bounds or end not in bounds:
                    bad.append(f"{name} [{intent}] {entity}={text[start:end]!r} in {text!r}")
    assert bad == [], f"{len(bad)} misaligned spans, e.g. {bad[:5]}"


def test_entities_are_declared_and_values_are_known(examples):
    declared = set(domain()["entities"])
    services = {s["id"] for f in (SEED_DIR / "services").glob("*.yml")
                for s in yaml.safe_load(f.read_text(encoding="utf-8"))["services"]}
    centers = {c["id"] for c in yaml.safe_load((SEED_DIR / "centers.yml").read_text(encoding="utf-8"))["centers"]}
    problems = []
    for rows in examples.values():
        for name, raw in rows:
            for _, _, entity, value in strip_annotations(raw)[1]:
                if entity not in declared:
                    problems.append(f"{name}: undeclared entity {entity}")
                if value is not None and entity == "service" and value not in services:
                    problems.append(f"{name}: unknown service {value}")
                if value is not None and entity == "center" and value not in centers:
                    problems.append(f"{name}: unknown centre {value}")
    assert problems == []


def test_no_real_personal_numbers(examples):
    """Phone numbers in examples use 0000 as the middle four digits; ID numbers are obviously fake."""
    phone_re = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
    leaks = []
    for rows in examples.values():
        for name, raw in rows:
            text = normalize(strip_annotations(raw)[0])
            leaks += [f"{name}: {p}" for p in phone_re.findall(text) if p[3:7] != "0000"]
    assert leaks == []


def test_synonym_targets_are_catalog_or_centre_ids():
    from tests.conftest import REPO

    data = yaml.safe_load((REPO / "nlu_data" / "synonyms.yml").read_text(encoding="utf-8"))
    services = {s["id"] for f in (SEED_DIR / "services").glob("*.yml")
                for s in yaml.safe_load(f.read_text(encoding="utf-8"))["services"]}
    centers = {c["id"] for c in yaml.safe_load((SEED_DIR / "centers.yml").read_text(encoding="utf-8"))["centers"]}
    targets = Counter(block["synonym"] for block in data["nlu"] if "synonym" in block)
    assert set(targets) <= services | centers
    if (SHARED / "catalog.yml").exists():
        assert services <= set(targets), "every catalog service has colloquial synonyms"


def test_heldout_scoring_uses_only_unseen_examples(examples):
    from devtools.nlu_data import plain, unseen_heldout

    train = {plain(raw) for rows in examples.values() for _, raw in rows}
    unseen = unseen_heldout()
    assert set(unseen) >= CONTRACT_INTENTS
    assert all(len(rows) >= 8 for rows in unseen.values()), {k: len(v) for k, v in unseen.items()}
    assert not any(plain(e) in train for rows in unseen.values() for e in rows)
