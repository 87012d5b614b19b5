"""The compressed-sensing reconstruction methods by name, with their parameters, defaults and accepted ranges.

``lam`` is relative to the data: the solvers see k-space divided by the largest zero-filled magnitude of the
volume (:mod:`condswin.inference.compressed_sensing`), so one default serves files of any intensity scale. The
defaults were chosen on simulated k-space of training volumes only (``bench/cs_lambda.py``; the table is in ``docs/benchmarks.md``).
This module imports no torch, so a command checks ``--param`` before any work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from condswin.errors import UsageError
from condswin.lookup import look_up
from condswin.parameter_rules import ParameterRule

__all__ = ["CS_TV", "CS_WAVELET", "CompressedSensingMethod", "get_method", "list_methods", "resolve_parameters"]

CS_TV = "cs-tv"
CS_WAVELET = "cs-wavelet"

# 10000 iterations of a 640 x 368 slice take minutes; more is a typo, not a request.
MAX_ITERATIONS = 10000


@dataclass(frozen=True)
class CompressedSensingMethod:
    """One entry of the method table.

    Attributes:
        name: what ``--model`` and reports call it.
        regulariser: ``total_variation`` or ``wavelet_l1``.
        lam: the default regularisation weight, relative to the largest zero-filled magnitude.
        iterations: the default number of solver iterations.
        summary: one line for listings and GUIs.
    """

    name: str
    regulariser: str
    lam: float
    iterations: int
    summary: str

    @property
    def defaults(self) -> dict[str, Any]:
        """The parameters and their default values."""
        return {"lam": self.lam, "iterations": self.iterations}


_METHODS = {
    method.name: method
    for method in (
        CompressedSensingMethod(
            CS_TV, "total_variation", 1e-3, 100, "total-variation compressed sensing (ADMM), weight `lam`"
        ),
        CompressedSensingMethod(
            CS_WAVELET,
            "wavelet_l1",
            1e-3,
            100,
            "Haar-wavelet l1 compressed sensing (FISTA, random shifts), weight `lam`",
        ),
    )
}

_RULES = {
    # lam is relative to the largest zero-filled magnitude: at 1 the regulariser outweighs any image's data
    "lam": ParameterRule(float, low=0.0, low_open=True, high=1.0),
    "iterations": ParameterRule(int, low=1, high=MAX_ITERATIONS),
}


def list_methods() -> list[str]:
    """The compressed-sensing method names."""
    return list(_METHODS)


def get_method(name: str) -> CompressedSensingMethod:
    """The method called ``name``.

    Raises:
        UsageError: an unknown name (the message lists the accepted ones and suggests a close one).
    """
    return look_up("compressed-sensing method", name, _METHODS)


def resolve_parameters(name: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """The method's defaults updated with ``params``, every value checked.

    Raises:
        UsageError: an unknown method or parameter (the message lists the accepted ones with their defaults),
            or a value of the wrong type or out of range (the message gives the range).
    """
    method = get_method(name)
    given = dict(params or {})
    unknown = sorted(set(given) - set(_RULES))
    if unknown:
        listing = ", ".join(f"{key}={value!r}" for key, value in method.defaults.items())
        raise UsageError(f"{name}: unknown parameter(s) {', '.join(unknown)}; accepted (with defaults): {listing}")
    for key, value in given.items():
        _RULES[key].check(name, key, value)
    resolved = {**method.defaults, **given}
    resolved["iterations"] = int(resolved["iterations"])
    resolved["lam"] = float(resolved["lam"])
    return resolved
