"""The paper's published numbers (seed paper, section III) and its loss-function comparison, computed by code.

The report prints these beside our measurements; nothing here is a measurement of ours.
"""
from __future__ import annotations

import numpy as np

# Per step: what the paper reports (facts.md section 3). `accuracy_is` says which accuracy the paper's figure is
# and on what data, because it is printed beside our TFMA accuracy on our eval split: the two are the same
# measurement only where metric and data agree. `short` labels the paper's bar in the growth chart.
PAPER = {
    "dense": {"paper_step": 1, "accuracy": 0.88, "loss": 0.25, "first_epoch": {"loss": 0.64, "accuracy": 0.60},
              "accuracy_is": {"metric": "last-epoch accuracy (figure 2; training or validation not said)",
                              "data": "not named", "short": "last epoch"}},
    "cnn": {"paper_step": 2, "accuracy": 0.7737, "loss": 0.6811, "note": "CIFAR-10 test, 313/313 batches",
            "accuracy_is": {"metric": "test accuracy", "data": "CIFAR-10 test set, 10,000 images", "short": "test"}},
    "transfer": {"paper_step": 3, "accuracy": 0.9989, "parameters": {"total": 2264389, "trainable": 6405,
                                                                    "non_trainable": 2257984},
                 "accuracy_is": {"metric": "training accuracy (last epoch)", "data": "flowers, 5 classes",
                                 "short": "training"}},
    "autoencoder": {"paper_step": 4, "parameters": {"total": 2561, "trainable": 2561, "non_trainable": 0}},
    "deepdream": {"paper_step": 5, "parameters": {"total": 21802784, "trainable": 21768352, "non_trainable": 34432},
                  "losses": {0: 0.6168044805526733, 100: 1.4076865911483765, 200: 1.7209874391555786,
                             300: 1.90653395652771}},
    "textgen": {"paper_step": 6, "parameters": {"total": 4021569, "trainable": 4021569, "non_trainable": 0}},
}

# The two networks' outputs (P(dog), P(cat)) and targets on three rows, as printed in the paper.
LOSS_TABLE_ROWS = {
    "NN1": {"predictions": [[0.9, 0.1], [0.1, 0.9], [0.4, 0.6]], "targets": [[1, 0], [0, 1], [1, 0]]},
    "NN2": {"predictions": [[0.6, 0.4], [0.3, 0.7], [0.1, 0.9]], "targets": [[1, 0], [0, 1], [1, 0]]},
}
LOSS_TABLE_PAPER = {"NN1": {"classification_error": 0.33, "mean_squared_error": 0.25, "cross_entropy": 0.38},
                    "NN2": {"classification_error": 0.33, "mean_squared_error": 0.71, "cross_entropy": 1.06}}


def accuracy_note(step: str) -> str:
    """What the paper's accuracy for a step measures, e.g. 'training accuracy (last epoch); data: flowers, 5 classes'."""
    described = PAPER.get(step, {}).get("accuracy_is")
    return f"{described['metric']}; data: {described['data']}" if described else ""


def loss_measures(predictions, targets) -> dict:
    """The paper's three measures on one-hot targets: share misclassified, mean over rows of the summed
    squared error, and mean cross-entropy (natural log)."""
    p = np.asarray(predictions, dtype=np.float64)
    t = np.asarray(targets, dtype=np.float64)
    return {
        "classification_error": float(np.mean(p.argmax(axis=1) != t.argmax(axis=1))),
        "mean_squared_error": float(np.mean(np.sum((p - t) ** 2, axis=1))),
        "cross_entropy": float(np.mean(-np.sum(t * np.log(np.clip(p, 1e-12, 1.0)), axis=1))),
    }


def loss_table() -> dict:
    return {name: loss_measures(**rows) for name, rows in LOSS_TABLE_ROWS.items()}
