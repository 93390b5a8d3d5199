"""``symbp train SPEC``: train a spec's network on its ``[data]`` with the compiled kernels."""

from __future__ import annotations

import json
import math
import os
import shlex
import sys
import tempfile
from pathlib import Path

from ..errors import CheckpointError, SpecError, SymbpError
from ..rules.optimizers import OPTIMIZERS
from ..spec import load_spec
from ..train import (DTYPES, TrainConfig, Trainer, TrainingDiverged, data_warnings, prepare,
                     validate_train_table)
from .common import OutputError, add_spec_argument


def register(sub) -> None:
    p = sub.add_parser(
        "train", help="train a spec's network on its [data] with the compiled kernels",
        description="Derive SPEC, compile its training step (forward, backward and optimizer "
                    "update fused) and train on the spec's [data] with the [train] settings; "
                    "options override them. Minibatch epochs run inside one compiled call.")
    add_spec_argument(p)
    g = p.add_argument_group("settings (override the spec's [train] table)")
    g.add_argument("--epochs", type=int, metavar="N")
    g.add_argument("--lr", type=float, metavar="ETA", help="learning rate")
    g.add_argument("--batch-size", type=int, metavar="B", help="minibatch size (0 = full batch)")
    g.add_argument("--seed", type=int, metavar="S", help="initialisation and shuffling seed")
    g.add_argument("--optimizer", choices=tuple(OPTIMIZERS))
    g.add_argument("--target", choices=("cpu", "parallel", "cuda"), help="compile target")
    g.add_argument("--dtype", choices=DTYPES)
    c = p.add_argument_group("checkpoints and outputs")
    c.add_argument("--checkpoint", metavar="DIR",
                   help="write DIR/checkpoint.npz (parameters, optimizer state, RNG state, epoch) "
                        "atomically every K epochs and at the end")
    c.add_argument("--checkpoint-every", type=int, metavar="K",
                   help="epochs between checkpoints (default: [train] checkpoint_every, else 10)")
    c.add_argument("--resume", action="store_true",
                   help="continue from DIR/checkpoint.npz (needs --checkpoint DIR)")
    c.add_argument("--save", metavar="FILE", help="write the trained parameters to FILE (.npz)")
    c.add_argument("--plot", metavar="FILE", help="draw the loss and metric curves to FILE (.png; "
                                                  "needs matplotlib)")
    c.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    c.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no information")
    p.set_defaults(func=run)


#: The ``[train]`` keys that options of the same name (``--batch-size``) override.
OPTION_KEYS = ("epochs", "lr", "batch_size", "seed", "optimizer", "target", "dtype",
               "checkpoint_every")


def run(args) -> int:
    spec = load_spec(args.spec)
    config = TrainConfig.from_spec(spec, **_options(args))
    if args.resume and not args.checkpoint:
        raise SymbpError("--resume needs --checkpoint DIR (the folder holding checkpoint.npz)")
    _check_outputs(args)
    say = _say(args)
    d, data, model, _ = prepare(spec, config)
    for w in d.warnings + data_warnings(spec, data):
        print(f"symbp train: warning: {w}", file=sys.stderr)
    say(describe(spec, config, data))
    from ..progress import ProgressBar, save_plot

    bar = ProgressBar(enabled=not args.quiet)
    trainer = Trainer(d, model, data, config, checkpoint_dir=args.checkpoint, resume=args.resume,
                      progress=bar)
    try:
        result = trainer.run()
    except (TrainingDiverged, KeyboardInterrupt) as exc:
        bar.close()
        _unfinished(args, getattr(trainer, "result", None), isinstance(exc, TrainingDiverged))
        raise
    bar.close()
    if result.steps == 0 and result.resumed_from >= config.epochs:
        asked = "--epochs" if args.epochs is not None else "the spec's [train] epochs"
        print(f"symbp train: warning: the checkpoint {result.checkpoint} is at epoch "
              f"{result.resumed_from}, which is already >= {config.epochs} ({asked}, the total "
              f"number of epochs); nothing was trained. To train more, pass --epochs N with N > "
              f"{result.resumed_from}", file=sys.stderr)
    if args.save:
        std = data.standardizer
        _save_params(args.save, spec, result.params, task=data.task, classes=data.classes,
                     mean=std.mean, std=std.std, epoch=result.epoch,
                     feature_names=data.feature_names)
        say(f"wrote {args.save}")
    if args.plot:
        save_plot(result, args.plot, title=f"{spec.name}: {config.optimizer}, lr {config.lr:g}")
        say(f"wrote {args.plot}")
    if args.json:
        out = {"spec": spec.name, "config": config.__dict__, "warnings": d.warnings,
               **result.summary()}
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        sys.stdout.write(summary_text(spec.name, result) + "\n")
    return 0


def _options(args) -> dict:
    """The ``[train]`` overrides given as options, each checked as its key in the spec would be
    but with errors that name the option."""
    given = {key: getattr(args, key) for key in OPTION_KEYS if getattr(args, key) is not None}
    for key, value in given.items():
        try:
            validate_train_table({key: value}, "the command line")
        except SpecError as exc:
            raise SymbpError(f"--{key.replace('_', '-')}: {exc.problem}") from None
    return given


def _check_outputs(args) -> None:
    """Refuse, before training, output paths that could not be written after it."""
    if args.save:
        _check_output(args.save, "--save")
    if args.plot:
        from ..progress import require_matplotlib

        require_matplotlib()
        _check_output(args.plot, "--plot")
    if args.checkpoint:
        from ..checkpoint import checkpoint_path

        folder = Path(args.checkpoint)
        if folder.exists() and not folder.is_dir():
            raise OutputError(f"--checkpoint {args.checkpoint}: this is a file; expected a folder "
                              f"(symbp writes DIR/checkpoint.npz in it)")
        _check_output(checkpoint_path(folder), "--checkpoint")


def _check_output(path, option: str) -> None:
    """``path`` can be written as a file: it is not a folder, and its nearest existing folder
    is one and is writable (missing folders are made when writing)."""
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"{option} {path}: this is a folder; expected a file name such as "
                          f"{target / ('params.npz' if option == '--save' else 'curves.png')}")
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise OutputError(f"{option} {path}: cannot write there, {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {path}: cannot write there, the folder {folder} is not "
                          f"writable")


def _save_params(path, spec, params: dict, **saved) -> None:
    """Write the parameter file; where that fails, write it to a temporary file instead, so the
    trained parameters are not lost, and say where."""
    from ..checkpoint import save_params

    try:
        save_params(path, spec, spec.model.sizes, params, **saved)
    except CheckpointError as exc:
        fd, rescue = tempfile.mkstemp(prefix="symbp-params-", suffix=".npz")
        os.close(fd)
        try:
            save_params(rescue, spec, spec.model.sizes, params, **saved)
        except CheckpointError:
            raise OutputError(f"{exc}; the trained parameters are lost (a copy could not be "
                              f"written to {rescue} either)") from None
        raise OutputError(f"{exc}; the trained parameters were written to {rescue} "
                          f"instead") from None


def _unfinished(args, res, diverged: bool) -> None:
    """Say what a run that did not finish leaves behind: its checkpoint, and not --save."""
    why = "training diverged" if diverged else "training was interrupted"
    if res is not None and res.checkpoint:
        same = [x for name in ("lr", "batch_size", "seed", "optimizer", "target", "dtype")
                if getattr(args, name, None) is not None  # what the checkpoint must match
                for x in (f"--{name.replace('_', '-')}", str(getattr(args, name)))]
        export = shlex.join(["symbp", "train", args.spec, "--checkpoint", args.checkpoint, *same,
                             "--resume", "--epochs", str(res.checkpoint_epoch), "--save", "FILE"])
        then = (f"write its parameters with {export}" if diverged else
                f"continue with --resume, or write its parameters with {export}")
        print(f"symbp train: {why}; the last checkpoint is {res.checkpoint} (epoch "
              f"{res.checkpoint_epoch}): {then}", file=sys.stderr)
    elif args.checkpoint:
        print(f"symbp train: {why} before the first checkpoint; nothing was written to "
              f"{args.checkpoint}", file=sys.stderr)
    unwritten = [f"{option} {path}" for option, path in (("--save", args.save),
                                                         ("--plot", args.plot)) if path]
    if unwritten:
        keep = "" if args.checkpoint else " (with --checkpoint DIR a run keeps its progress)"
        print(f"symbp train: {why}, so {' and '.join(unwritten)} "
              f"{'was' if len(unwritten) == 1 else 'were'} not written{keep}", file=sys.stderr)


def _say(args):
    def say(text: str) -> None:
        if not args.quiet:
            print(text, file=sys.stderr)
    return say


def describe(spec, config: TrainConfig, data) -> str:
    """Two lines: the network and the settings, then the data summary."""
    sizes = "-".join(map(str, spec.model.sizes))
    acts = ", ".join(layer.activation.name for layer in spec.model.layers)
    batch = "full batch" if config.batch_size == 0 else f"batch {config.batch_size}"
    hyper = "".join(f", {k} {v:g}" for k, v in config.hyper.items() if k != "eta")
    return (f"{spec.name}: {sizes} ({acts}), loss {spec.loss.kind}; {config.optimizer} "
            f"lr {config.lr:g}{hyper}, {config.epochs} epochs, {batch}, seed {config.seed}, "
            f"{config.target}/{config.dtype}\n{data.info()}")


def summary_text(name: str, r) -> str:
    """``digits_softmax: 30 epochs, 1,200 steps in 0.15 s (8,000 steps/s) ...``."""
    from ..progress import format_rate

    parts = []
    for label, values in (("train", r.metric_train), ("validation", r.metric_val)):
        if values and math.isfinite(values[-1]):
            parts.append(f"{label} {_fmt(r.metric, values[-1])}")
    if math.isfinite(r.test_metric):
        parts.append(f"test {_fmt(r.metric, r.test_metric)}")
    if not parts:  # a diverged model: no finite metric to show
        parts.append("not finite")
    if r.steps == 0:  # resumed from a checkpoint at or past the epochs asked for
        return (f"{name}: {r.epoch} epochs (the checkpoint's), nothing trained\n"
                f"loss {r.final_loss:.6g}; {r.metric}: {', '.join(parts)}")
    first = r.losses[r.resumed_from]
    resumed = f" (resumed at epoch {r.resumed_from})" if r.resumed_from else ""
    return (f"{name}: {r.epoch} epochs{resumed}, {r.steps:,} steps in {r.seconds:.3g} s "
            f"({format_rate(r.steps_per_second)}; compile/load {r.compile_seconds:.2g} s)\n"
            f"loss {first:.6g} -> {r.final_loss:.6g}; {r.metric}: {', '.join(parts)}")


def _fmt(metric: str, v: float) -> str:
    return f"{v:.4f}" if metric == "accuracy" else f"{v:.4g}"
