"""Progress display and loss/metric curves for training runs.

Contract: :class:`ProgressBar` is a :data:`symbp.train.ProgressFn`; it redraws one line on a
terminal (carriage return, at most ten times a second) and draws nothing when its stream is not
a terminal or when disabled (``--quiet``). :func:`save_plot` draws the loss and metric curves of
a :class:`symbp.train.TrainRun` with matplotlib (an optional extra: ``pip install
"symbp[plot]"``), writing the PNG atomically.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

from .errors import SymbpError

BAR_WIDTH = 24


def format_rate(steps_per_second: float) -> str:
    if not math.isfinite(steps_per_second):
        return "- steps/s"
    return f"{steps_per_second:,.0f} steps/s"


def format_metric(name: str, value: float) -> str:
    if not math.isfinite(value):
        return f"{name} -"
    return f"{name} {value:.4f}" if name == "accuracy" else f"{name} {value:.4g}"


class ProgressBar:
    """``epoch  12/30 [##########..............] loss 0.0412  accuracy 0.9611  9,100 steps/s``.

    Args:
        stream: where to draw (default stderr).
        enabled: False draws nothing (``--quiet``); None: draw only when ``stream`` is a
            terminal.
        label: shown before the bar.
    """

    def __init__(self, stream=None, enabled: bool | None = None, label: str = "epoch"):
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", lambda: False)()
        self.enabled = isatty if enabled is None else (enabled and isatty)
        self.label = label
        self._last = 0.0
        self._drawn = False

    def line(self, epoch: int, total: int, loss: float, metric: str, value: float,
             rate: float) -> str:
        filled = round(BAR_WIDTH * epoch / max(total, 1))
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        width = len(str(total))
        return (f"{self.label} {epoch:>{width}}/{total} [{bar}] loss {loss:.4g}  "
                f"{format_metric(metric, value)}  {format_rate(rate)}")

    def __call__(self, epoch: int, total: int, loss: float, metric: str, value: float,
                 rate: float) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if epoch < total and now - self._last < 0.1:
            return
        self._last = now
        self.stream.write("\r" + self.line(epoch, total, loss, metric, value, rate) + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """End the bar's line (call after training, also after an error)."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def require_matplotlib():
    """``matplotlib.pyplot`` with the non-interactive Agg backend.

    Raises:
        SymbpError: matplotlib is not installed (says how to install it).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SymbpError("--plot needs matplotlib, an optional extra: pip install "
                         "\"symbp[plot]\" (or pip install matplotlib)") from None
    return plt


def save_plot(run, path: str | os.PathLike, title: str = "") -> Path:
    """Draw the per-epoch loss and the metric (train and validation) of ``run`` to a PNG.

    Raises:
        SymbpError: matplotlib is not installed, or the file cannot be written.
    """
    plt = require_matplotlib()
    target = Path(path)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = range(1, len(run.losses) + 1)
    ax1.plot(epochs, run.losses, color="C0")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss (mean over minibatches)")
    if run.losses and min(run.losses) > 0 and max(run.losses) / min(run.losses) > 100:
        ax1.set_yscale("log")
    ax1.grid(alpha=0.3)
    ax2.plot(run.metric_epochs, run.metric_train, label="train", color="C0")
    if any(math.isfinite(v) for v in run.metric_val):
        ax2.plot(run.metric_epochs, run.metric_val, label="validation", color="C1")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel(run.metric)
    ax2.legend()
    ax2.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    tmp = target.parent / f".{target.name}.{os.getpid()}.tmp.png"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(tmp, dpi=100)
        os.replace(tmp, target)
    except OSError as exc:
        raise SymbpError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return target
