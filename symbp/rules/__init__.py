"""Symbolic rules: elementwise activations, losses and the linear (contraction) map.

Each family is a registry filled in one place; see ``symbp/extend.py`` to add your own.
"""

from .activations import ACTIVATIONS, Activation, make_activation, register_activation
from .losses import LOSSES, Loss, make_loss, register_loss

__all__ = ["ACTIVATIONS", "Activation", "make_activation", "register_activation",
           "LOSSES", "Loss", "make_loss", "register_loss"]
