"""``symbp predict SPEC --params FILE --input CSV``: predictions of a trained network."""

from __future__ import annotations

import argparse
import io

import numpy as np

from ..checkpoint import load_params
from ..data import load_csv_features
from ..data.table import DELIMITER_EXPECTED, is_delimiter
from ..spec import load_spec
from ..train import TrainConfig, predicted_classes
from .common import add_spec_argument, write_output


def register(sub) -> None:
    p = sub.add_parser(
        "predict", help="predict with trained parameters (symbp train --save) on a CSV",
        description="Read the inputs in CSV (one row per sample, the model's input columns; a "
                    "header line is detected, and where the training data named its columns "
                    "the header's columns are matched to them by name, in any order), "
                    "standardise them as in training, run the compiled forward pass and write "
                    "one prediction per row as CSV. The parameter file must be for the spec's "
                    "network: the same sizes, activations, loss and task.")
    add_spec_argument(p)
    p.add_argument("--params", required=True, metavar="FILE",
                   help="a parameter file written by `symbp train --save FILE`")
    p.add_argument("--input", required=True, metavar="CSV", help="the inputs, as CSV")
    p.add_argument("--delimiter", default=",", type=_delimiter,
                   help="the CSV field separator, one character (default ,; \\t for a tab)")
    p.add_argument("--proba", action="store_true",
                   help="classification: also write the predicted probability of each class")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.set_defaults(func=run)


def _delimiter(text: str) -> str:
    """``--delimiter``: one character, as the spec's ``data.delimiter``; ``\\t`` is a tab."""
    d = "\t" if text == "\\t" else text
    if not is_delimiter(d):
        raise argparse.ArgumentTypeError(f"expected {DELIMITER_EXPECTED}, got {text!r}")
    return d


def run(args) -> int:
    spec = load_spec(args.spec)
    config = TrainConfig.from_spec(spec)
    sizes = spec.model.sizes
    from ..derive import derive
    from ..runtime import compile_derivation

    d = derive(spec, optimizer=config.optimizer)
    saved = load_params(args.params, spec, d.params, sizes)
    table = spec.section("data") or {}
    ignore = table.get("target", -1) if table.get("source") == "csv" else None
    X = load_csv_features(args.input, sizes[0], delimiter=args.delimiter, ignore=ignore,
                          names=saved["feature_names"])
    model = compile_derivation(d, target=config.target, dtype=config.dtype)
    params = {k: np.ascontiguousarray(v, dtype=model.dtype) for k, v in saved["params"].items()}
    yhat = np.asarray(model.forward(params, (X - saved["mean"]) / saved["std"]), dtype=np.float64)
    write_output(format_predictions(yhat, saved["task"], saved["classes"], args.proba),
                 args.output)
    return 0


def format_predictions(yhat: np.ndarray, task: str, classes, proba: bool) -> str:
    """CSV text: ``prediction`` (a class label or a value; ``y1, y2, ...`` for several regression
    outputs) and with ``proba`` one ``p_<class>`` column per class.

    Raises:
        ValueError: ``classes`` is not one label per probability column (two for one output).
    """
    out = io.StringIO()
    if task == "classification" and classes is not None:
        probs = np.column_stack([1 - yhat[:, 0], yhat[:, 0]]) if yhat.shape[1] == 1 else yhat
        if len(classes) != probs.shape[1]:
            raise ValueError(f"{len(classes)} class label(s) for {probs.shape[1]} class "
                             f"probabilities; expected one label per class")
        cols = ["prediction"] + ([f"p_{c}" for c in classes] if proba else [])
        out.write(",".join(cols) + "\n")
        for r, k in enumerate(predicted_classes(yhat)):
            row = [str(classes[k])]
            if proba:
                row += [f"{v:.6g}" for v in probs[r]]
            out.write(",".join(row) + "\n")
        return out.getvalue()
    names = ["prediction"] if yhat.shape[1] == 1 else [f"y{k + 1}" for k in range(yhat.shape[1])]
    out.write(",".join(names) + "\n")
    for row in yhat:
        out.write(",".join(f"{v:.10g}" for v in row) + "\n")
    return out.getvalue()
