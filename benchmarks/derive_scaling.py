"""How derivation time scales with layer width and with depth (issue 2's cost requirement).

symbp never creates one SymPy symbol per weight, so ``symbp.derive`` should cost the same for a
2-1000-1000-1 network as for a 2-5-5-1 one, and grow linearly with depth. This script prints:

* the median (of 3) derivation time of 2-5-5-1 and 2-1000-1000-1 tanh MLPs and their ratio
  (target: within 1.5x),
* the median derivation time of tanh MLPs (width 16, linear output, MSE) of depth 1, 2, 4, ..., 64
  and the time per layer (target: roughly constant; 64 layers under 5 s).

A derivation is ``load_spec`` (validation) plus ``derive``; printing is timed separately for the
deepest net. It asserts nothing (timings belong in a benchmark, not a test).

Run: ``python -m benchmarks.derive_scaling`` (or ``python benchmarks/derive_scaling.py``);
``--repeats N`` changes the number of runs per figure.
"""

from __future__ import annotations

import argparse
import statistics
import time

import symbp

DEPTHS = (1, 2, 4, 8, 16, 32, 64)


def mlp_spec(widths: list[int], activation: str = "tanh") -> str:
    """TOML for an MLP with the given widths (input first), ``activation`` on hidden layers."""
    layers = [f'{{ units = {w}, activation = "{activation}" }}' for w in widths[1:-1]]
    layers.append(f'{{ units = {widths[-1]}, activation = "identity" }}')
    return (f"[model]\ninputs = {widths[0]}\nlayers = [ {', '.join(layers)} ]\n"
            '[loss]\nkind = "mse"\nreduction = "mean"\n')


def time_derive(text: str, repeats: int) -> float:
    """Median wall time of ``derive(load_spec(text))`` over ``repeats`` runs (one warm-up)."""
    symbp.derive(symbp.load_spec(text))  # warm-up: imports, SymPy caches, activation rules
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        symbp.derive(symbp.load_spec(text))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (median)")
    args = parser.parse_args(argv)

    print(f"symbp {symbp.__version__}: derivation time, median of {args.repeats}\n")
    print("Width (tanh MLP, MSE)")
    small = time_derive(mlp_spec([2, 5, 5, 1]), args.repeats)
    large = time_derive(mlp_spec([2, 1000, 1000, 1]), args.repeats)
    print(f"  {'2-5-5-1':>16}  {small * 1e3:9.1f} ms")
    print(f"  {'2-1000-1000-1':>16}  {large * 1e3:9.1f} ms")
    ratio = large / small
    print(f"  ratio 2-1000-1000-1 / 2-5-5-1 = {ratio:.2f}x (target <= 1.5x): "
          f"{'ok' if ratio <= 1.5 else 'OVER'}\n")

    print("Depth (tanh hidden layers of width 16, linear output, MSE)")
    print(f"  {'layers':>6}  {'time':>10}  {'per layer':>10}")
    per_layer = {}
    for depth in DEPTHS:
        widths = [4] + [16] * (depth - 1) + [1] if depth > 1 else [4, 1]
        t = time_derive(mlp_spec(widths), args.repeats)
        per_layer[depth] = t / depth
        print(f"  {depth:>6}  {t * 1e3:8.1f} ms  {t / depth * 1e3:7.2f} ms")
    t64 = per_layer[64] * 64
    print(f"  64 layers: {t64:.2f} s (target < 5 s): {'ok' if t64 < 5 else 'OVER'}")
    print(f"  time per layer, 64 vs 8 layers: {per_layer[64] / per_layer[8]:.2f}x "
          "(1.0x = linear in depth)")

    d = symbp.derive(symbp.load_spec(mlp_spec([4] + [16] * 63 + [1])))
    t0 = time.perf_counter()
    text = d.to_text()
    latex = d.to_latex()
    t_print = time.perf_counter() - t0
    print(f"\nPrinting the 64-layer derivation (text + LaTeX, {len(text) + len(latex)} chars): "
          f"{t_print * 1e3:.0f} ms")

    # a one-off cost outside the sweep: building an activation rule simplifies f' once per
    # process (then cached); GELU's is the slowest
    from symbp.rules import activations

    activations._diff.cache_clear()
    t0 = time.perf_counter()
    activations.make_activation("gelu")
    print(f"Building the GELU rule (first use in a process): {time.perf_counter() - t0:.2f} s")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
