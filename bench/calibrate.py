"""Fit the search's confidence calibration and check it on held-out data.

Fits a logistic regression (numpy, L2) from each hit's features to "this hit is the
right service", on the dev questions (top-3 hits each) and the dev out-of-scope
questions (every hit wrong), then writes ``knowledge/lexicon/calibration.yml``. It
reports, on the held-out sets, the expected calibration error and what a threshold
does: answered share, accuracy of answered in-scope questions, out-of-scope false accepts.

Usage: ``python -m bench.calibrate [--write]``
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

import numpy as np
import yaml

from bench.common import REPO, load_questions, scratch_seeded_repo

FEATURES = ["log_score", "margin", "coverage", "log_words"]
CALIBRATION_PATH = REPO / "knowledge" / "lexicon" / "calibration.yml"


def collect(search: Any, in_scope: list[dict[str, Any]], oos: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows and labels from the top-3 hits of every question."""
    rows, labels = [], []
    for item in in_scope:
        for hit, feats in search.rank(item["q"], k=3):
            rows.append([feats[f] for f in FEATURES])
            labels.append(1.0 if hit.service_id == item["service"] else 0.0)
    for item in oos:
        for _hit, feats in search.rank(item["q"], k=3):
            rows.append([feats[f] for f in FEATURES])
            labels.append(0.0)
    return np.array(rows), np.array(labels)


def fit(x: np.ndarray, y: np.ndarray, l2: float = 0.01, steps: int = 5000, lr: float = 0.5) -> tuple[float, np.ndarray]:
    """Logistic regression by gradient descent on standardised features; returns raw-scale (bias, weights)."""
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mu) / sd
    w, b = np.zeros(z.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        grad_w = z.T @ (p - y) / len(y) + l2 * w
        grad_b = float(np.mean(p - y))
        w -= lr * grad_w
        b -= lr * grad_b
    raw_w = w / sd
    return b - float(raw_w @ mu), raw_w


def ece(conf: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error."""
    total = 0.0
    for lo in np.linspace(0, 1, bins, endpoint=False):
        mask = (conf >= lo) & (conf < lo + 1 / bins)
        if mask.any():
            total += mask.mean() * abs(conf[mask].mean() - correct[mask].mean())
    return float(total)


def heldout_report(search: Any) -> dict[str, Any]:
    """Top-1 confidence behaviour on the held-out in-scope and out-of-scope sets."""
    ins = load_questions("heldout_questions")
    oos = load_questions("heldout_out_of_scope")
    conf_in, ok_in, conf_oos = [], [], []
    for item in ins:
        hits = search.search(item["q"], k=1)
        conf_in.append(hits[0].confidence if hits else 0.0)
        ok_in.append(1.0 if hits and hits[0].service_id == item["service"] else 0.0)
    for item in oos:
        hits = search.search(item["q"], k=1)
        conf_oos.append(hits[0].confidence if hits else 0.0)
    ci, oi, co = np.array(conf_in), np.array(ok_in), np.array(conf_oos)
    all_conf = np.concatenate([ci, co])
    all_ok = np.concatenate([oi, np.zeros_like(co)])
    out: dict[str, Any] = {"ece": ece(all_conf, all_ok), "thresholds": {}}
    for t in (0.3, 0.4, 0.5, 0.6, 0.7):
        answered = ci >= t
        out["thresholds"][t] = {
            "in_scope_answered": float(answered.mean()),
            "answered_accuracy": float(oi[answered].mean()) if answered.any() else float("nan"),
            "oos_false_accept": float((co >= t).mean()),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", action="store_true", help="write knowledge/lexicon/calibration.yml")
    args = parser.parse_args()
    from knowledge.search import KnowledgeSearch

    search = KnowledgeSearch(repository=scratch_seeded_repo())
    x, y = collect(search, load_questions("dev_questions"), load_questions("dev_out_of_scope"))
    bias, weights = fit(x, y)
    named = zip(FEATURES, weights, strict=True)
    params = {"bias": round(float(bias), 4), "weights": {f: round(float(w), 4) for f, w in named}}
    print(f"fitted on {len(y)} hits ({int(y.sum())} correct):", params)
    if args.write:
        header = (f"# Written by `python -m bench.calibrate --write` on {dt.date.today()} from bench/data/dev_*.yml\n"
                  "# (logistic regression over knowledge.search features; do not edit by hand).\n")
        CALIBRATION_PATH.write_text(header + yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    search._calibration = params
    rep = heldout_report(search)
    print(f"held-out ECE {rep['ece']:.3f}")
    for t, row in rep["thresholds"].items():
        print(f"  threshold {t}: answered {row['in_scope_answered']:.3f}, accuracy of answered "
              f"{row['answered_accuracy']:.3f}, OOS false accepts {row['oos_false_accept']:.3f}")


if __name__ == "__main__":
    main()
