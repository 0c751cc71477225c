"""Train the lure-wording model (kakuri.detect.lure_model) on the development set, reproducibly.

    .venv/bin/python scripts/train_lure_model.py /work/realdev --out src/kakuri/data/lure_model.json
    .venv/bin/python scripts/train_lure_model.py /work/realdev --split older-newer   # held-out-like check only

The development set is the one `../shared/tools/realmail-dev.sh` writes (phishing_pot samples up to 4000 and
SpamAssassin easy_ham; `labels.jsonl` + `messages/`). Nothing else may be used: the newer phishing_pot half
and the other SpamAssassin sets are the project's evaluation data.
Logistic regression by plain stochastic gradient descent (fixed seed, fixed order, a few thousand features):
small enough that numpy or scikit-learn would only add a dependency. Classes are weighted to balance.
`--split older-newer` trains on the lower-numbered half of each family and reports the higher half (and
the reverse), which is how the newer, unseen phishing will look to the shipped model.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from kakuri.detect.lure_model import content_features  # noqa: E402
from kakuri.parse.mime import parse_message  # noqa: E402

SEED = 1
MIN_DOCUMENTS = 8  # a word seen in fewer mails is a campaign's or a person's, not a lure's
KEEP_FEATURES = 4000
EPOCHS = 12
L2 = 1e-4
THRESHOLD = 0.95
# Artefacts of how the development set was anonymised (the honeypot's placeholder address and owner's
# name, which its phishing mentions in greetings): they say where the mail was caught, not what it is.
DATASET_ARTEFACTS = frozenset({"phishing", "pot", "rodrigo", "peixoto", "ferreira", "mathkichuu", "merciayanmact"})


def load_documents(dev: Path) -> list[tuple[str, int, set[str]]]:
    """(file, label 1 = malicious, features) for every development mail the model does not abstain on."""
    documents = []
    for line in (dev / "labels.jsonl").read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        message = parse_message((dev / entry["file"]).read_bytes())
        features = content_features(message)
        if features is None:
            continue
        features = {f for f in features if not DATASET_ARTEFACTS.intersection(f.split())}
        documents.append((entry["file"], int(entry["label"] == "malicious"), features))
    return documents


def train(documents: list[tuple[str, int, set[str]]], seed: int = SEED) -> dict:
    document_frequency = Counter(f for _, _, features in documents for f in features)
    vocabulary = {f for f, n in document_frequency.items() if n >= MIN_DOCUMENTS}
    rows = [(label, sorted(features & vocabulary)) for _, label, features in documents]
    positives = sum(label for label, _ in rows)
    class_weight = {1: len(rows) / (2 * positives), 0: len(rows) / (2 * (len(rows) - positives))}
    weights: dict[str, float] = {}
    bias = 0.0
    order = list(range(len(rows)))
    rng = random.Random(seed)
    for epoch in range(EPOCHS):
        rng.shuffle(order)
        rate = 0.2 / (1 + epoch)
        for index in order:
            label, features = rows[index]
            z = bias + sum(weights.get(f, 0.0) for f in features)
            p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
            gradient = (p - label) * class_weight[label]
            bias -= rate * gradient
            for f in features:
                w = weights.get(f, 0.0)
                weights[f] = w - rate * (gradient + L2 * w)
    kept = sorted(weights.items(), key=lambda item: (-abs(item[1]), item[0]))[:KEEP_FEATURES]
    return {
        "about": "kakuri lure-wording model; trained by scripts/train_lure_model.py on the development set only",
        "seed": seed,
        "threshold": THRESHOLD,
        "bias": round(bias, 4),
        "weights": {f: round(w, 4) for f, w in sorted(kept)},
    }


def probability(model: dict, features: set[str]) -> float:
    z = model["bias"] + sum(model["weights"].get(f, 0.0) for f in features)
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def _number(file: str) -> int:
    return int(re.findall(r"\d+", file)[-1])


def report_split(documents: list[tuple[str, int, set[str]]]) -> None:
    for label in (1, 0):
        numbers = sorted(_number(f) for f, lab, _ in documents if lab == label)
        print(f"{'phishing' if label else 'benign'} numbers {numbers[0]}..{numbers[-1]}, median {numbers[len(numbers) // 2]}")
    medians = {
        label: sorted(_number(f) for f, lab, _ in documents if lab == label)[
            sum(1 for _, lab, _ in documents if lab == label) // 2
        ]
        for label in (0, 1)
    }
    halves = {
        "older": [d for d in documents if _number(d[0]) < medians[d[1]]],
        "newer": [d for d in documents if _number(d[0]) >= medians[d[1]]],
    }
    for train_half, test_half in (("older", "newer"), ("newer", "older")):
        model = train(halves[train_half])
        test = halves[test_half]
        scores = [(label, probability(model, features)) for _, label, features in test]
        for threshold in (0.5, 0.8, 0.9, 0.95):
            caught = sum(1 for label, p in scores if label == 1 and p >= threshold)
            false = sum(1 for label, p in scores if label == 0 and p >= threshold)
            phishing = sum(1 for label, _ in scores if label == 1)
            benign = len(scores) - phishing
            print(
                f"train {train_half} -> test {test_half}, p >= {threshold}: phishing {caught}/{phishing} "
                f"({caught / phishing:.1%}), benign {false}/{benign}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dev", type=Path, help="development set folder (labels.jsonl, messages/)")
    parser.add_argument("--out", type=Path, help="where to write the model (JSON)")
    parser.add_argument("--split", choices=["older-newer"], help="report a held-out-like split instead of training")
    args = parser.parse_args()
    documents = load_documents(args.dev)
    print(f"{len(documents)} mails with enough Latin-script content ({sum(d[1] for d in documents)} phishing)")
    if args.split:
        report_split(documents)
        return
    model = train(documents)
    if args.out:
        args.out.write_text(json.dumps(model, ensure_ascii=False, indent=0, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {args.out}: {len(model['weights'])} features")
    top = sorted(model["weights"].items(), key=lambda item: -item[1])
    print("strongest lure features:", ", ".join(f for f, _ in top[:30]))
    print("strongest benign features:", ", ".join(f for f, _ in top[-30:]))


if __name__ == "__main__":
    main()
