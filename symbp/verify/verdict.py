"""The result of checking one claim."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Verdict:
    """A claim's verdict.

    Attributes:
        text: the claim as given.
        verdict: ``correct``, ``wrong``, ``unverifiable`` or ``skipped`` (states no derivative).
        reason: why (always set for unverifiable and skipped; a summary otherwise).
        counterexample: for wrong claims: ``{"at": {name: value}, "expected": str,
            "claimed": str, "side": int}`` (values as text).
        correct: the correct right-hand side in LaTeX, when known.
        diagnosis: labels: sign, factor_2, factor_half, factor_N, factor_inv_N, factor,
            missing_activation_derivative, function_instead_of_derivative, undefined,
            transposed, wrong_layer, missing_weight_decay, weight_decay_sign (``[loss] l2``),
            shape, other.
        explanation: the diagnosis in words.
        layout: ``column`` (z = W a, rows of W are outputs) or ``row`` (z = a W, symbp's), when
            the claim involves matrices.
        symbolic, numeric: how each check ended (True equal, False different, None undecided).
        line: line in the document, when the claim came from one.
        expected: the verdict a spec's ``[[claims]]`` entry expects (its ``expect`` key), or None.
    """

    text: str
    verdict: str
    reason: str = ""
    counterexample: dict | None = None
    correct: str | None = None
    diagnosis: list = field(default_factory=list)
    explanation: list = field(default_factory=list)
    layout: str | None = None
    symbolic: bool | None = None
    numeric: bool | None = None
    line: int | None = None
    expected: str | None = None

    @property
    def unexpected(self) -> bool:
        """The claim states an expected verdict and got another one."""
        return self.expected is not None and self.verdict != self.expected

    def to_dict(self) -> dict:
        d = asdict(self)
        d["unexpected"] = self.unexpected
        return d
