"""``symbp train SPEC``: train a spec's network on its ``[data]`` with the compiled kernels."""

from __future__ import annotations

import json
import math
import sys

from ..errors import SymbpError
from ..rules.optimizers import OPTIMIZERS
from ..spec import load_spec
from ..train import DTYPES, TrainConfig, Trainer, TrainingDiverged, data_warnings, prepare
from .common import add_spec_argument


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


def run(args) -> int:
    spec = load_spec(args.spec)
    config = TrainConfig.from_spec(
        spec, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
        optimizer=args.optimizer, target=args.target, dtype=args.dtype,
        checkpoint_every=args.checkpoint_every)
    if args.resume and not args.checkpoint:
        raise SymbpError("--resume needs --checkpoint DIR (the folder holding checkpoint.npz)")
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
    except TrainingDiverged:
        bar.close()
        raise
    except KeyboardInterrupt:
        bar.close()
        where = getattr(trainer, "result", None)
        if where is not None and where.checkpoint:
            print(f"symbp train: interrupted; the last checkpoint is {where.checkpoint}; continue "
                  f"with --resume", file=sys.stderr)
        raise
    bar.close()
    if args.save:
        from ..checkpoint import save_params

        std = data.standardizer
        save_params(args.save, spec, spec.model.sizes, result.params, task=data.task,
                    classes=data.classes, mean=std.mean, std=std.std, epoch=result.epoch)
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

    first = r.losses[r.resumed_from] if len(r.losses) > r.resumed_from else float("nan")
    parts = []
    for label, values in (("train", r.metric_train), ("validation", r.metric_val)):
        if values and math.isfinite(values[-1]):
            parts.append(f"{label} {_fmt(r.metric, values[-1])}")
    if math.isfinite(r.test_metric):
        parts.append(f"test {_fmt(r.metric, r.test_metric)}")
    resumed = f" (resumed at epoch {r.resumed_from})" if r.resumed_from else ""
    return (f"{name}: {r.epoch} epochs{resumed}, {r.steps:,} steps in {r.seconds:.3g} s "
            f"({format_rate(r.steps_per_second)}; compile/load {r.compile_seconds:.2g} s)\n"
            f"loss {first:.6g} -> {r.final_loss:.6g}; {r.metric}: {', '.join(parts)}")


def _fmt(metric: str, v: float) -> str:
    return f"{v:.4f}" if metric == "accuracy" else f"{v:.4g}"
