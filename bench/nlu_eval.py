"""NLU benchmark of the two Rasa pipelines: held-out intents and entities, timings, CV, SMP2017.

Run with the Rasa venv, from the repository root (the custom normaliser and the jieba dictionary
path in the pipeline configs are relative to it)::

    cd /work/main && .venv-rasa/bin/python -m bench.nlu_eval [--quick]

Writes ``bench/REPORT_nlu_eval.md`` (the older two-pipeline study; the default is chosen by
``bench.nlu_compare``) and the raw figures to ``bench/out/nlu.json``.
``--report-only`` rebuilds the report from an existing ``bench/out/nlu.json`` without training.

What is measured, for ``bot/config.yml`` (DIET) and ``bot/config_ci.yml`` (LogisticRegression + CRF),
each trained NLU-only on ``nlu_data/`` with the domain in ``bot/domain`` (what ``rasa train nlu`` does):

1. intents on the held-out set (``bench/data/nlu_heldout.yml``), restricted to examples never seen in
   training (``devtools.nlu_data.unseen_heldout``), and on the whole held-out set;
2. entities (exact character span + type, micro over entities) on the same unseen examples;
3. training and model load wall-clock times;
4. stratified k-fold cross-validation of the DIET pipeline on the training data (not with ``--quick``);
5. SMP2017-ECDT task 1 (31 domains): each pipeline trained on ``train.jsonl`` and tested on
   ``test.jsonl`` (the DIET one not with ``--quick``), beside the published best F1;
6. out-of-scope false accepts: our own models run on the SMP2017 test utterances.

Every trained model is loaded once and parses all of its evaluation texts. Models, fold data and
SMP training data live in a temporary directory that is removed at the end; nothing is written
outside ``bench/``. The Rasa training cache is disabled (``RASA_MAX_CACHE_SIZE=0``) so that
timings are of full trainings and nothing lands in ``.rasa/``. SMP sentences are never written to
the report or the JSON: only counts and domain names.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import json
import math
import os
import platform
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

# Before anything imports rasa.
os.environ["RASA_TELEMETRY_ENABLED"] = "false"
os.environ["RASA_MAX_CACHE_SIZE"] = "0"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import contextlib

import yaml

from bench.common import BENCH_DIR, REPO, SHARED_DATA, machine_line
from devtools.nlu_data import load_examples, training_examples, unseen_heldout

REPORT = BENCH_DIR / "REPORT_nlu_eval.md"  # REPORT_nlu.md: the comparison (bench.nlu_compare)
OUT_JSON = BENCH_DIR / "out" / "nlu.json"
HELDOUT = BENCH_DIR / "data" / "nlu_heldout.yml"
SMP_DIR = SHARED_DATA / "smp_ecdt" / "smp2017_task1"
PIPELINES = {"DIET": "bot/config.yml", "LogReg+CRF": "bot/config_ci.yml"}
TASK_INTENTS = ("ask_service_guide", "book_appointment", "cancel_appointment", "query_appointment",
                "check_application_status", "complain", "request_human")
FALLBACK = "nlu_fallback"
TARGET_MACRO_F1 = 0.95
PUBLISHED_SMP_F1 = 0.9355  # best F1 on SMP2017-ECDT task 1 as reported in arXiv:1806.07914
CV_SEED = 42
CV_MAX_TRAIN_S = 180  # above this for one DIET training, use 3 folds instead of 5
ENTITY_RE = re.compile(r"\[(?P<text>[^\]]+)\](?:\((?P<name>\w+)\)|\{(?P<json>[^}]+)\})")


def log(msg: str) -> None:
    print(f"[nlu_eval {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ------------------------------------------------------------------ data

def strip_annotations(example: str) -> tuple[str, list[tuple[int, int, str, str | None]]]:
    """Plain text of an annotated example and its entities as (start, end, entity, value or None)."""
    text, entities, pos = "", [], 0
    for m in ENTITY_RE.finditer(example):
        text += example[pos:m.start()]
        start = len(text)
        text += m.group("text")
        if m.group("name"):
            entities.append((start, len(text), m.group("name"), None))
        else:
            meta = json.loads("{" + m.group("json") + "}")
            entities.append((start, len(text), meta["entity"], meta.get("value")))
        pos = m.end()
    return text + example[pos:], entities


def domain_intents(domain_dir: Path) -> set[str]:
    out: set[str] = set()
    for path in sorted(domain_dir.glob("*.yml")):
        out.update((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("intents") or [])
    return out


def nlu_extras(nlu_dir: Path) -> list[dict[str, Any]]:
    """Non-intent blocks (regex, synonym, lookup) of every NLU file under ``nlu_dir``."""
    blocks = []
    for path in sorted(nlu_dir.rglob("*.yml")):
        for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
            if "intent" in block:
                if set(block) - {"intent", "examples"}:
                    raise ValueError(f"{path}: intent block with extra keys {set(block)}")
            else:
                blocks.append(block)
    return blocks


def write_nlu(path: Path, intents: dict[str, list[str]], extras: list[dict[str, Any]] | None = None) -> None:
    """Rasa 3 YAML with one literal block of examples per intent (annotations kept as written)."""
    lines = ['version: "3.1"', "nlu:"]
    for intent in sorted(intents):
        lines += [f"- intent: {intent}", "  examples: |"]
        lines += [f"    - {ex}" for ex in intents[intent]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if extras:
        extra_path = path.with_name(path.stem + "_extras.yml")
        extra_path.write_text(yaml.safe_dump({"version": "3.1", "nlu": extras}, allow_unicode=True,
                                             sort_keys=False), encoding="utf-8")


def write_domain(path: Path, intents: list[str]) -> None:
    path.write_text(yaml.safe_dump({"version": "3.1", "intents": sorted(intents)}, allow_unicode=True),
                    encoding="utf-8")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def fallback_config(config: str) -> dict[str, float]:
    data = yaml.safe_load((REPO / config).read_text(encoding="utf-8"))
    for comp in data.get("pipeline") or []:
        if comp.get("name") == "FallbackClassifier":
            return {"threshold": comp.get("threshold"), "ambiguity_threshold": comp.get("ambiguity_threshold")}
    return {}


def stratified_folds(examples: dict[str, list[str]], k: int, seed: int) -> list[dict[str, list[str]]]:
    """k folds (intent → examples) stratified by intent, shuffled with ``seed``."""
    rng = random.Random(seed)
    folds: list[dict[str, list[str]]] = [{} for _ in range(k)]
    offset = 0
    for intent in sorted(examples):
        rows = list(examples[intent])
        rng.shuffle(rows)
        for i, ex in enumerate(rows):
            folds[(offset + i) % k].setdefault(intent, []).append(ex)
        offset += len(rows)
    return folds


# ------------------------------------------------------------------ rasa

def train(config: str, data: Path, domain: Path, out_dir: Path, name: str) -> tuple[Path, float]:
    """Trains an NLU-only model (``rasa train nlu``); returns its path and the wall-clock seconds."""
    from rasa.model_training import train_nlu

    log(f"training {name} ({config} on {data})")
    t0 = time.perf_counter()
    model = train_nlu(config=str(config), nlu_data=str(data), output=str(out_dir), fixed_model_name=name,
                      domain=str(domain))
    seconds = time.perf_counter() - t0
    if not model:
        raise RuntimeError(f"training {name} produced no model")
    log(f"trained {name} in {seconds:.1f} s")
    return Path(model), seconds


def load(model: Path) -> tuple[Any, float]:
    from rasa.core.agent import Agent

    t0 = time.perf_counter()
    agent = Agent.load(str(model))
    seconds = time.perf_counter() - t0
    if not agent.is_ready():
        raise RuntimeError(f"{model} did not load")
    log(f"loaded {model.name} in {seconds:.1f} s")
    return agent, seconds


def parse_all(agent: Any, texts: list[str]) -> tuple[list[dict[str, Any]], list[float]]:
    """Parses every text with the loaded agent: final intent (after FallbackClassifier), the
    classifier's own top intent, confidence and entities; plus per-message latencies (s)."""

    async def run() -> tuple[list[dict[str, Any]], list[float]]:
        out, lat = [], []
        for text in texts:
            t0 = time.perf_counter()
            res = await agent.parse_message(text)
            lat.append(time.perf_counter() - t0)
            intent = (res.get("intent") or {}).get("name")
            ranking = [r for r in res.get("intent_ranking") or [] if r.get("name") != FALLBACK]
            raw = ranking[0] if ranking else (res.get("intent") or {})
            ents = {}
            for e in res.get("entities") or []:
                key = (e.get("start"), e.get("end"), e.get("entity"))
                ents.setdefault(key, e.get("value"))
            out.append({"intent": intent, "raw_intent": raw.get("name"),
                        "raw_confidence": float(raw.get("confidence") or 0.0),
                        "entities": [(s, e, t, v) for (s, e, t), v in ents.items()]})
        return out, lat

    return asyncio.run(run())


def release(agent: Any) -> None:
    del agent
    gc.collect()


# ------------------------------------------------------------------ metrics

def intent_scores(gold: list[str], pred: list[str], labels: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 over ``labels`` (the gold classes; a prediction outside them, such as
    nlu_fallback, only costs recall) and per-label precision/recall/F1."""
    per = {}
    for label in labels:
        tp = sum(1 for g, p in zip(gold, pred, strict=False) if g == label and p == label)
        fp = sum(1 for g, p in zip(gold, pred, strict=False) if g != label and p == label)
        fn = sum(1 for g, p in zip(gold, pred, strict=False) if g == label and p != label)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per[label] = {"precision": prec, "recall": rec, "f1": f1, "support": tp + fn}
    n = len(gold)
    return {"n": n, "accuracy": sum(g == p for g, p in zip(gold, pred, strict=False)) / n if n else float("nan"),
            "macro_f1": statistics.mean(v["f1"] for v in per.values()) if per else float("nan"),
            "per_label": per}


def entity_scores(gold: list[list[tuple]], pred: list[list[tuple]]) -> dict[str, Any]:
    """Exact span + type, micro over entities; also per type, and value accuracy on matched spans
    whose annotation gives an explicit value (synonym-mapped ids, ratings)."""
    tp = fp = fn = 0
    types: dict[str, Counter] = {}
    value_ok = value_n = 0
    for g_ents, p_ents in zip(gold, pred, strict=False):
        g = {(s, e, t): v for s, e, t, v in g_ents}
        p = {(s, e, t): v for s, e, t, v in p_ents}
        for key in set(g) | set(p):
            c = types.setdefault(key[2], Counter())
            if key in g and key in p:
                tp += 1
                c["tp"] += 1
                if g[key] is not None:
                    value_n += 1
                    value_ok += str(p[key]) == str(g[key])
            elif key in g:
                fn += 1
                c["fn"] += 1
            else:
                fp += 1
                c["fp"] += 1

    def prf(tp_: int, fp_: int, fn_: int) -> dict[str, float]:
        prec = tp_ / (tp_ + fp_) if tp_ + fp_ else 0.0
        rec = tp_ / (tp_ + fn_) if tp_ + fn_ else 0.0
        return {"precision": prec, "recall": rec, "f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0,
                "gold": tp_ + fn_, "predicted": tp_ + fp_, "tp": tp_}

    return {**prf(tp, fp, fn), "value_accuracy": value_ok / value_n if value_n else float("nan"),
            "value_n": value_n, "per_type": {t: prf(c["tp"], c["fp"], c["fn"]) for t, c in sorted(types.items())}}


def mcnemar_p(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value for b vs c discordant pairs."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


# ------------------------------------------------------------------ parts

def heldout_part(preds: list[dict[str, Any]], golds: list[str], labels: list[str],
                 raw_examples: list[str], texts: list[str]) -> dict[str, Any]:
    raw = intent_scores(golds, [p["raw_intent"] for p in preds], labels)
    final = intent_scores(golds, [p["intent"] for p in preds], labels)
    errors = [{"text": t, "gold": g, "pred": p["raw_intent"], "final": p["intent"],
               "confidence": round(p["raw_confidence"], 3)}
              for t, g, p in zip(texts, golds, preds, strict=False) if p["raw_intent"] != g or p["intent"] != g]
    gold_ents = [strip_annotations(ex)[1] for ex in raw_examples]
    ents = entity_scores(gold_ents, [p["entities"] for p in preds])
    return {"intent": raw, "intent_after_fallback": final,
            "fallback_rate": sum(p["intent"] == FALLBACK for p in preds) / len(preds),
            "correct": [p["raw_intent"] == g for p, g in zip(preds, golds, strict=False)],
            "correct_after_fallback": [p["intent"] == g for p, g in zip(preds, golds, strict=False)],
            "entities": ents, "errors": errors}


def oos_part(preds: list[dict[str, Any]], domains: list[str]) -> dict[str, Any]:
    raw_acc = [p["raw_intent"] in TASK_INTENTS for p in preds]
    fin_acc = [p["intent"] in TASK_INTENTS for p in preds]
    n = len(preds)
    return {"n": n,
            "false_accept_rate_raw": sum(raw_acc) / n, "false_accept_rate_configured": sum(fin_acc) / n,
            "false_accepts_raw": sum(raw_acc), "false_accepts_configured": sum(fin_acc),
            "by_intent_raw": dict(Counter(p["raw_intent"] for p, a in zip(preds, raw_acc, strict=False) if a).most_common()),
            "by_intent_configured": dict(Counter(p["intent"] for p, a in zip(preds, fin_acc, strict=False) if a).most_common()),
            "predicted_configured": dict(Counter(p["intent"] for p in preds).most_common()),
            "top_domains_configured": Counter(d for d, a in zip(domains, fin_acc, strict=False) if a).most_common(10),
            "domains_raw": dict(Counter(d for d, a in zip(domains, raw_acc, strict=False) if a).most_common()),
            "domain_sizes": dict(Counter(domains))}


def run(quick: bool, tmp: Path) -> dict[str, Any]:
    res: dict[str, Any] = {"quick": quick, "parts": {}, "timings_s": {}}
    domain_dir = REPO / "bot" / "domain"
    nlu_dir = REPO / "nlu_data"
    known = domain_intents(domain_dir)

    train_ex = training_examples()
    unseen = unseen_heldout()
    held_all = load_examples([HELDOUT])
    labels = sorted(i for i in unseen if i in known)
    res["skipped_intents"] = sorted(i for i in unseen if i not in known)
    res["labels"] = labels
    res["n_train"] = sum(len(v) for v in train_ex.values())
    res["n_train_by_intent"] = {k: len(v) for k, v in sorted(train_ex.items())}

    def flatten(d: dict[str, list[str]]) -> tuple[list[str], list[str]]:
        golds, raws = [], []
        for intent in labels:
            for ex in d.get(intent, []):
                golds.append(intent)
                raws.append(ex)
        return golds, raws

    u_gold, u_raw = flatten(unseen)
    a_gold, a_raw = flatten(held_all)
    u_text = [strip_annotations(r)[0] for r in u_raw]
    a_text = [strip_annotations(r)[0] for r in a_raw]
    res["n_unseen"], res["n_all_heldout"] = len(u_gold), len(a_gold)

    smp = None
    if (SMP_DIR / "train.jsonl").exists() and (SMP_DIR / "test.jsonl").exists():
        smp = {"train": read_jsonl(SMP_DIR / "train.jsonl"), "test": read_jsonl(SMP_DIR / "test.jsonl")}
        res["smp_available"] = True
    else:
        res["smp_available"] = False
        log(f"{SMP_DIR} absent: SMP parts skipped")

    # 1-3, 6: the citizen models
    res["pipelines"] = {}
    for name, config in PIPELINES.items():
        t0 = time.perf_counter()
        model, train_s = train(config, nlu_dir, domain_dir, tmp / "models", f"citizen-{name.lower()}")
        agent, load_s = load(model)
        held_preds, lat = parse_all(agent, a_text)
        by_text = dict(zip(a_raw, held_preds, strict=False))
        u_preds = [by_text[r] for r in u_raw]
        entry: dict[str, Any] = {
            "config": config, "fallback": fallback_config(config),
            "train_s": train_s, "load_s": load_s, "model_mb": model.stat().st_size / 1e6,
            "parse_ms_mean": 1000 * statistics.mean(lat[1:] or lat), "parse_ms_first": 1000 * lat[0],
            "parse_ms_p95": 1000 * sorted(lat)[int(0.95 * (len(lat) - 1))],
            "unseen": heldout_part(u_preds, u_gold, labels, u_raw, u_text),
            "all_heldout": heldout_part(held_preds, a_gold, labels, a_raw, a_text),
        }
        if smp:
            smp_preds, _ = parse_all(agent, [r["text"] for r in smp["test"]])
            entry["oos_smp_test"] = oos_part(smp_preds, [r["domain"] for r in smp["test"]])
        release(agent)
        entry["part_s"] = time.perf_counter() - t0
        res["pipelines"][name] = entry
        res["timings_s"][f"citizen {name} (train+load+parse)"] = entry["part_s"]
        log(f"{name}: unseen macro-F1 {entry['unseen']['intent']['macro_f1']:.3f}, "
            f"entity F1 {entry['unseen']['entities']['f1']:.3f}")

    # 4: cross-validation of the DIET pipeline
    if quick:
        res["cv"] = None
    else:
        t0 = time.perf_counter()
        diet_train_s = res["pipelines"]["DIET"]["train_s"]
        k = 5 if diet_train_s <= CV_MAX_TRAIN_S else 3
        folds = stratified_folds(train_ex, k, CV_SEED)
        extras = nlu_extras(nlu_dir)
        fold_rows, pooled_gold, pooled_raw, pooled_fin = [], [], [], []
        cv_labels = sorted(i for i in train_ex if i in known)
        for i, test_fold in enumerate(folds):
            fold_dir = tmp / f"cv{i}"
            fold_dir.mkdir()
            train_fold = {intent: [ex for j, f in enumerate(folds) if j != i for ex in f.get(intent, [])]
                          for intent in train_ex}
            write_nlu(fold_dir / "nlu.yml", train_fold, extras)
            model, train_s = train(PIPELINES["DIET"], fold_dir, domain_dir, tmp / "models", f"cv-diet-{i}")
            agent, _ = load(model)
            golds = [intent for intent in sorted(test_fold) for _ in test_fold[intent]]
            texts = [strip_annotations(ex)[0] for intent in sorted(test_fold) for ex in test_fold[intent]]
            preds, _ = parse_all(agent, texts)
            release(agent)
            model.unlink()
            raw = intent_scores(golds, [p["raw_intent"] for p in preds], cv_labels)
            fin = intent_scores(golds, [p["intent"] for p in preds], cv_labels)
            fold_rows.append({"fold": i, "n_test": len(golds), "train_s": train_s, "macro_f1": raw["macro_f1"],
                              "accuracy": raw["accuracy"], "macro_f1_after_fallback": fin["macro_f1"]})
            pooled_gold += golds
            pooled_raw += [p["raw_intent"] for p in preds]
            pooled_fin += [p["intent"] for p in preds]
            log(f"CV fold {i + 1}/{k}: macro-F1 {raw['macro_f1']:.3f}")
        pooled = intent_scores(pooled_gold, pooled_raw, cv_labels)
        res["cv"] = {"k": k, "seed": CV_SEED, "reduced_to_3": k == 3, "diet_train_s": diet_train_s,
                     "folds": fold_rows,
                     "macro_f1_mean": statistics.mean(r["macro_f1"] for r in fold_rows),
                     "macro_f1_sd": statistics.stdev(r["macro_f1"] for r in fold_rows),
                     "accuracy_mean": statistics.mean(r["accuracy"] for r in fold_rows),
                     "pooled": pooled,
                     "pooled_after_fallback": intent_scores(pooled_gold, pooled_fin, cv_labels)}
        res["timings_s"][f"cross-validation ({k} DIET trainings)"] = time.perf_counter() - t0

    # 5: SMP2017 pipeline check
    res["smp"] = {}
    if smp:
        smp_dir = tmp / "smp"
        smp_dir.mkdir()
        by_domain: dict[str, list[str]] = {}
        for r in smp["train"]:
            by_domain.setdefault(r["domain"], []).append(r["text"])
        write_nlu(smp_dir / "train.yml", by_domain)
        write_domain(tmp / "smp_domain.yml", list(by_domain))
        smp_labels = sorted(by_domain)
        gold = [r["domain"] for r in smp["test"]]
        res["smp_n"] = {"train": len(smp["train"]), "test": len(smp["test"]), "domains": len(smp_labels)}
        for name, config in PIPELINES.items():
            if quick and name == "DIET":
                continue
            t0 = time.perf_counter()
            model, train_s = train(config, smp_dir, tmp / "smp_domain.yml", tmp / "models", f"smp-{name.lower()}")
            agent, load_s = load(model)
            preds, _ = parse_all(agent, [r["text"] for r in smp["test"]])
            release(agent)
            raw = intent_scores(gold, [p["raw_intent"] for p in preds], smp_labels)
            fin = intent_scores(gold, [p["intent"] for p in preds], smp_labels)
            res["smp"][name] = {"train_s": train_s, "load_s": load_s, "raw": raw, "after_fallback": fin,
                                "fallback_rate": sum(p["intent"] == FALLBACK for p in preds) / len(preds),
                                "correct": [p["raw_intent"] == g for p, g in zip(preds, gold, strict=False)]}
            res["timings_s"][f"SMP2017 {name} (train+load+parse)"] = time.perf_counter() - t0
            log(f"SMP {name}: accuracy {raw['accuracy']:.3f}, macro-F1 {raw['macro_f1']:.3f}")
    return res


# ------------------------------------------------------------------ report

def pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.{digits}f} %"


def paired(res: dict[str, Any], key: str, sub: str = "correct") -> tuple[int, int, float]:
    """Discordant pairs (DIET right / CI wrong, CI right / DIET wrong) and exact McNemar p."""
    a = res["pipelines"]["DIET"][key][sub] if key in res["pipelines"]["DIET"] else res["smp"]["DIET"][sub]
    b = res["pipelines"]["LogReg+CRF"][key][sub] if key in res["pipelines"]["LogReg+CRF"] \
        else res["smp"]["LogReg+CRF"][sub]
    d_only = sum(x and not y for x, y in zip(a, b, strict=False))
    c_only = sum(y and not x for x, y in zip(a, b, strict=False))
    return d_only, c_only, mcnemar_p(d_only, c_only)


def decision(res: dict[str, Any]) -> list[str]:
    d, c = res["pipelines"]["DIET"], res["pipelines"]["LogReg+CRF"]
    du, cu = d["unseen"], c["unseen"]
    n = res["n_unseen"]
    d_only, c_only, p = paired(res, "unseen")
    better = "DIET" if du["intent"]["macro_f1"] > cu["intent"]["macro_f1"] else "LogReg+CRF"
    sig = p < 0.05
    out = [
        f"On the {n} unseen held-out examples DIET scores accuracy {pct(du['intent']['accuracy'])} / macro-F1 "
        f"{pct(du['intent']['macro_f1'])} against {pct(cu['intent']['accuracy'])} / "
        f"{pct(cu['intent']['macro_f1'])} for LogReg+CRF (one example is {100 / n:.1f} points of accuracy). "
        f"Paired on the same examples, DIET alone is right on {d_only} and LogReg+CRF alone on {c_only} "
        f"(exact McNemar p = {p:.3f}), so the intent difference in favour of {better} is "
        + ("statistically clear on this set." if sig else "within what this small set can resolve; "
                                                         "it does not establish that either classifier is better.")]
    target = [name for name, e in res["pipelines"].items() if e["unseen"]["intent"]["macro_f1"] >= TARGET_MACRO_F1]
    out.append("The ≥ 95 % held-out macro-F1 target is met by " + (" and ".join(target) if target else "neither")
               + " (classifier top intent, before the fallback threshold).")
    de, ce = du["entities"], cu["entities"]
    out.append(f"Entities (exact span + type): F1 {pct(de['f1'])} for DIET against {pct(ce['f1'])} for the CRF "
               f"pipeline, over {de['gold']} gold entities; both pipelines share the regex extractor for numbers "
               "and codes, so the difference comes from the learned extractor (dates, times, services, centres, "
               "names).")
    ratio_t = d["train_s"] / c["train_s"] if c["train_s"] else float("nan")
    ratio_l = d["load_s"] / c["load_s"] if c["load_s"] else float("nan")
    out.append(f"Cost: DIET trains in {d['train_s']:.0f} s against {c['train_s']:.0f} s (×{ratio_t:.0f}) and loads in "
               f"{d['load_s']:.1f} s against {c['load_s']:.1f} s (×{ratio_l:.1f}); parsing takes "
               f"{d['parse_ms_mean']:.0f} ms against {c['parse_ms_mean']:.0f} ms per message.")
    if "oos_smp_test" in d:
        od, oc = d["oos_smp_test"], c["oos_smp_test"]
        out.append(f"On out-of-domain SMP2017 utterances, DIET wrongly accepts {pct(od['false_accept_rate_configured'])} "
                   f"into a task intent with its fallback threshold ({d['fallback']['threshold']}) against "
                   f"{pct(oc['false_accept_rate_configured'])} for LogReg+CRF (threshold {c['fallback']['threshold']}); "
                   "the two thresholds differ, so this compares the pipelines as configured, not the classifiers.")
    if res["smp"].get("DIET") and res["smp"].get("LogReg+CRF"):
        sd, sc = res["smp"]["DIET"]["raw"], res["smp"]["LogReg+CRF"]["raw"]
        out.append(f"On the SMP2017 domain task, accuracy {pct(sd['accuracy'])} (DIET) vs {pct(sc['accuracy'])} "
                   f"(LogReg+CRF), both below the published best F1 {pct(PUBLISHED_SMP_F1, 2)}"
                   if max(sd["macro_f1"], sc["macro_f1"]) < PUBLISHED_SMP_F1 else
                   f"On the SMP2017 domain task, accuracy {pct(sd['accuracy'])} (DIET) vs {pct(sc['accuracy'])} "
                   "(LogReg+CRF)")
        out[-1] += "; this checks that the Chinese preprocessing and featurisation work on real user text, not the bot."
    out.append("Reading: " + (
        "DIET is the better classifier on this data and extracts entities better; its cost is training and load "
        "time, which matter for CI and restarts, not for serving." if sig and better == "DIET" and de["f1"] >= ce["f1"]
        else "these numbers do not show a decisive intent-classification advantage for either pipeline; the choice "
             "rests on entity extraction, out-of-scope behaviour and the cost figures above, and a larger held-out "
             "set would be needed to separate the classifiers."))
    return [" ".join(out)]


def render(res: dict[str, Any]) -> str:
    P = res["pipelines"]
    names = list(P)
    L: list[str] = ["# NLU benchmark (`bench/nlu_eval.py`)", ""]
    L += [f"Measured {res['machine']} — Rasa {res['versions'].get('rasa')}, TensorFlow "
          f"{res['versions'].get('tensorflow')}, in `{res['cwd']}`, started {res['started']}, "
          f"by `{res['command']}`" + (" (quick mode: no cross-validation, no SMP DIET training)" if res["quick"] else "")
          + f". Total {res['total_s'] / 60:.1f} min.", ""]
    L += ["Both pipelines are trained NLU-only on `nlu_data/` (intent files plus regexes, synonyms and the lookup "
          "table, as `rasa train nlu` does) with the domain in `bot/domain`; training cache disabled, so times are "
          "full trainings. Each model is loaded once and parses all evaluation texts in process "
          "(`Agent.parse_message`). \"Classifier\" figures use the top intent of the classifier; \"after "
          "fallback\" figures use the final intent, where the configured `FallbackClassifier` may replace it with "
          "`nlu_fallback` (counted as wrong). Macro-F1 averages the F1 of the gold intents.", ""]

    L += ["## Decision", "", *decision(res), ""]

    L += ["## 1. Intents on the held-out set", "",
          f"`bench/data/nlu_heldout.yml`, written for the project and never trained on. **Unseen** = the "
          f"{res['n_unseen']} examples whose normalised text never occurs in training "
          f"(`devtools.nlu_data.unseen_heldout()`); **all** = all {res['n_all_heldout']} examples, including short "
          f"ones (你好, 好的 …) that also occur in training. {len(res['labels'])} intents"
          + (f"; skipped (not in domain): {', '.join(res['skipped_intents'])}" if res["skipped_intents"] else "")
          + f". Target: macro-F1 ≥ {TARGET_MACRO_F1:.0%} on held-out.", "",
          "| pipeline | set | n | accuracy | macro-F1 | target ≥ 95 % | accuracy after fallback | "
          "macro-F1 after fallback | sent to nlu_fallback |", "|---|---|---|---|---|---|---|---|---|"]
    for name in names:
        for key, label in (("unseen", "unseen"), ("all_heldout", "all")):
            e = P[name][key]
            L.append(f"| {name} | {label} | {e['intent']['n']} | {pct(e['intent']['accuracy'])} | "
                     f"**{pct(e['intent']['macro_f1'])}** | "
                     f"{'met' if e['intent']['macro_f1'] >= TARGET_MACRO_F1 else 'not met'} | "
                     f"{pct(e['intent_after_fallback']['accuracy'])} | {pct(e['intent_after_fallback']['macro_f1'])} | "
                     f"{pct(e['fallback_rate'])} |")
    d_only, c_only, p = paired(res, "unseen")
    L += ["", f"Paired comparison on the unseen examples (classifier intent): DIET right and LogReg+CRF wrong on "
          f"{d_only}, the reverse on {c_only}; exact McNemar p = {p:.3f}.", "",
          "Per-intent F1 on the unseen examples (classifier intent):", "",
          "| intent | n | " + " | ".join(f"{n} F1" for n in names) + " |", "|---|---|" + "---|" * len(names)]
    for label in res["labels"]:
        row = [P[n]["unseen"]["intent"]["per_label"][label] for n in names]
        L.append(f"| {label} | {row[0]['support']} | " + " | ".join(pct(r["f1"]) for r in row) + " |")
    for name in names:
        errs = P[name]["unseen"]["errors"]
        L += ["", f"<details><summary>{name}: {len(errs)} unseen examples misclassified by the classifier or "
              "sent to fallback (gold → classifier / final, confidence)</summary>", ""]
        L += [f"- {e['text']} — {e['gold']} → {e['pred']} / {e['final']} ({e['confidence']})" for e in errs]
        L += ["", "</details>"]

    L += ["", "## 2. Entities on the unseen held-out examples", "",
          "Gold spans from the annotations (`[text](entity)`, `[text]{\"entity\": …, \"value\": …}`) mapped to "
          "the plain text; predicted = the pipeline's final entities (learned extractor + regex extractor + "
          "synonyms; duplicates of the same span and type counted once). The normaliser keeps the text length, so "
          "offsets compare directly. Score: exact (start, end, type), micro over entities. Value accuracy: among "
          "exactly matched entities whose annotation gives an explicit value (service and centre ids, ratings), "
          "the share with the right value after synonym mapping.", "",
          "| pipeline | gold | predicted | exact matches | precision | recall | F1 | value accuracy |",
          "|---|---|---|---|---|---|---|---|"]
    for name in names:
        e = P[name]["unseen"]["entities"]
        L.append(f"| {name} | {e['gold']} | {e['predicted']} | {e['tp']} | {pct(e['precision'])} | "
                 f"{pct(e['recall'])} | **{pct(e['f1'])}** | {pct(e['value_accuracy'])} (n={e['value_n']}) |")
    types = sorted({t for n in names for t in P[n]["unseen"]["entities"]["per_type"]})
    L += ["", "| entity | gold | " + " | ".join(f"{n} F1 (pred)" for n in names) + " |",
          "|---|---|" + "---|" * len(names)]
    for t in types:
        rows = [P[n]["unseen"]["entities"]["per_type"].get(t, {"f1": 0.0, "predicted": 0, "gold": 0}) for n in names]
        L.append(f"| {t} | {rows[0]['gold']} | " + " | ".join(f"{pct(r['f1'])} ({r['predicted']})" for r in rows)
                 + " |")
    L += ["", f"All held-out examples ({res['n_all_heldout']}): entity F1 " + ", ".join(
        f"{n} {pct(P[n]['all_heldout']['entities']['f1'])}" for n in names) + "."]

    L += ["", "## 3. Training and load time", "",
          f"{res['n_train']} training examples, 15 intents. Wall clock on this machine, one training at a time; "
          "load = `Agent.load` of the archive (TensorFlow and Rasa already imported: the process-level import "
          f"took {res['import_s']:.1f} s once); parse = mean per message over the held-out set (first message "
          "excluded and shown apart).", "",
          "| pipeline | train | load | model size | parse mean | parse p95 | first parse |", "|---|---|---|---|---|---|---|"]
    for name in names:
        e = P[name]
        L.append(f"| {name} | {e['train_s']:.1f} s | {e['load_s']:.2f} s | {e['model_mb']:.1f} MB | "
                 f"{e['parse_ms_mean']:.1f} ms | {e['parse_ms_p95']:.1f} ms | {e['parse_ms_first']:.0f} ms |")

    L += ["", "## 4. Cross-validation of the DIET pipeline", ""]
    cv = res.get("cv")
    if not cv:
        L.append("Skipped (`--quick`).")
    else:
        L += [f"{cv['k']}-fold cross-validation on the {res['n_train']} training examples, stratified by intent "
              f"(seed {cv['seed']}); regexes, synonyms and lookups kept in every fold."
              + (f" **3 folds instead of 5**: one DIET training took {cv['diet_train_s']:.0f} s here, over the "
                 f"~{CV_MAX_TRAIN_S // 60} min budget." if cv["reduced_to_3"] else
                 f" One DIET training took {cv['diet_train_s']:.0f} s here, so 5 folds."), "",
              "| fold | test n | train | macro-F1 | accuracy | macro-F1 after fallback |", "|---|---|---|---|---|---|"]
        L += [f"| {r['fold'] + 1} | {r['n_test']} | {r['train_s']:.0f} s | {pct(r['macro_f1'])} | "
              f"{pct(r['accuracy'])} | {pct(r['macro_f1_after_fallback'])} |" for r in cv["folds"]]
        L += ["", f"Mean macro-F1 **{pct(cv['macro_f1_mean'])}** (sd {100 * cv['macro_f1_sd']:.1f} points); pooled "
              f"over all folds: macro-F1 {pct(cv['pooled']['macro_f1'])}, accuracy {pct(cv['pooled']['accuracy'])}, "
              f"after fallback macro-F1 {pct(cv['pooled_after_fallback']['macro_f1'])}. The training examples "
              "were written together, so folds share phrasing; these figures are expected to be higher than the "
              "held-out ones and are a consistency check, not a generalisation estimate.", "",
              "Lowest pooled per-intent F1: " + ", ".join(
                  f"{k} {pct(v['f1'])}" for k, v in sorted(cv["pooled"]["per_label"].items(),
                                                          key=lambda kv: kv[1]["f1"])[:5]) + "."]

    L += ["", "## 5. SMP2017-ECDT task 1 pipeline check", ""]
    if not res["smp_available"]:
        L.append(f"Skipped: `{SMP_DIR}` is absent.")
    else:
        sn = res["smp_n"]
        L += [f"Each pipeline config (unchanged, jieba dictionary included) trained on SMP2017 `train.jsonl` "
              f"({sn['train']} utterances, {sn['domains']} domains as intents, minimal temporary domain) and tested "
              f"on `test.jsonl` ({sn['test']} utterances). Data read from `../shared/data/smp_ecdt`, written only to "
              "a temporary directory. Published best F1: "
              f"{pct(PUBLISHED_SMP_F1, 2)} (arXiv:1806.07914; figure as cited, not re-derived here)."
              + (" DIET not trained in `--quick` mode." if res["quick"] else ""), "",
              "| pipeline | train | load | accuracy | macro-F1 | published best F1 | accuracy after fallback | "
              "sent to nlu_fallback |", "|---|---|---|---|---|---|---|---|"]
        for name, e in res["smp"].items():
            L.append(f"| {name} | {e['train_s']:.0f} s | {e['load_s']:.2f} s | {pct(e['raw']['accuracy'])} | "
                     f"**{pct(e['raw']['macro_f1'])}** | {pct(PUBLISHED_SMP_F1, 2)} | "
                     f"{pct(e['after_fallback']['accuracy'])} | {pct(e['fallback_rate'])} |")
        if len(res["smp"]) == 2:
            d_only, c_only, p = paired(res, "smp")
            L += ["", f"Paired (classifier intent): DIET alone right on {d_only}, LogReg+CRF alone on {c_only}; "
                  f"exact McNemar p = {p:.3f}."]
        L += ["", "Macro-F1 here averages 31 domains, several with only a handful of test utterances; the "
              "published systems used their own features and tuning, so this is a sanity check of the Chinese "
              "pipeline, not a like-for-like comparison."]

    L += ["", "## 6. Out-of-scope false accepts on SMP2017 test", ""]
    if not res["smp_available"]:
        L.append(f"Skipped: `{SMP_DIR}` is absent.")
    else:
        n = P[names[0]]["oos_smp_test"]["n"]
        L += [f"Our citizen-bot models (section 1) parse the {n} SMP2017 test utterances (voice-assistant requests: "
              "chit-chat, weather, music, flights, …; a few, e.g. reminders or phone calls, are close to our tasks "
              "and were not removed). False accept = the intent is one of our task intents ("
              + ", ".join(TASK_INTENTS) + ") instead of out_of_scope, nlu_fallback or a small-talk / "
              "inform / rate intent. \"Classifier\" = top intent without threshold; \"as configured\" = after the "
              "pipeline's `FallbackClassifier` (nlu_fallback = rejected).", "",
              "| pipeline | fallback threshold / ambiguity | false accepts, classifier | false accepts, as configured "
              "| task intents accepted (as configured) |", "|---|---|---|---|---|"]
        for name in names:
            o, fb = P[name]["oos_smp_test"], P[name]["fallback"]
            L.append(f"| {name} | {fb.get('threshold')} / {fb.get('ambiguity_threshold')} | "
                     f"{o['false_accepts_raw']} ({pct(o['false_accept_rate_raw'])}) | "
                     f"**{o['false_accepts_configured']} ({pct(o['false_accept_rate_configured'])})** | "
                     + ", ".join(f"{k} {v}" for k, v in o["by_intent_configured"].items()) + " |")
        for name in names:
            o = P[name]["oos_smp_test"]
            raw_counts = o["domains_raw"]
            L += ["", f"{name}: the 10 SMP domains most often wrongly accepted (as configured; classifier-only count "
                  "and domain size in brackets): " + ", ".join(
                      f"{dom} {cnt} ({raw_counts.get(dom, 0)}/{o['domain_sizes'][dom]})"
                      for dom, cnt in o["top_domains_configured"]) + ".",
                  "", f"{name}: final intents over all SMP test utterances: " + ", ".join(
                      f"{k} {v}" for k, v in o["predicted_configured"].items()) + "."]

    L += ["", "## Time taken by each part", "", "| part | wall clock |", "|---|---|"]
    L += [f"| {k} | {v / 60:.1f} min |" for k, v in res["timings_s"].items()]
    L += [f"| total (incl. imports and setup) | {res['total_s'] / 60:.1f} min |", ""]
    return "\n".join(L)


def versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for pkg in ("rasa", "tensorflow", "scikit-learn", "jieba"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[pkg] = metadata.version(pkg)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="no cross-validation and no SMP DIET training")
    ap.add_argument("--report-only", action="store_true", help=f"rebuild the report from {OUT_JSON}")
    args = ap.parse_args(argv)
    if args.report_only:
        res = json.loads(OUT_JSON.read_text(encoding="utf-8"))
        REPORT.write_text(render(res), encoding="utf-8")
        print(f"wrote {REPORT}")
        return
    t_start = time.perf_counter()
    if Path.cwd().resolve() != REPO:
        log(f"changing directory to {REPO} (pipeline paths are relative to it)")
        os.chdir(REPO)
    started = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    t0 = time.perf_counter()
    import rasa.core.agent
    import rasa.model_training
    import rasa.nlu.classifiers.diet_classifier  # noqa: F401  (imports TensorFlow)
    import_s = time.perf_counter() - t0
    tmp = Path(tempfile.mkdtemp(prefix="nlu-eval-"))
    try:
        res = run(args.quick, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res.update({"machine": machine_line(), "platform": platform.platform(), "versions": versions(),
                "started": started, "cwd": str(REPO), "import_s": import_s,
                "command": f"cd {REPO} && .venv-rasa/bin/python -m bench.nlu_eval" + (" --quick" if args.quick else ""),
                "argv": sys.argv, "total_s": time.perf_counter() - t_start})
    OUT_JSON.parent.mkdir(parents=True, exist_ok=True)
    OUT_JSON.write_text(json.dumps(res, ensure_ascii=False, indent=1), encoding="utf-8")
    REPORT.write_text(render(res), encoding="utf-8")
    log(f"wrote {REPORT} and {OUT_JSON} in {res['total_s'] / 60:.1f} min")


if __name__ == "__main__":
    main()
