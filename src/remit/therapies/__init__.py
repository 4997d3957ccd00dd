"""The therapies an arm can give, one package each (``remit/therapies/<id>/``), found by id in
:data:`THERAPIES` (the contract: :mod:`remit.therapies.base`).

Shared by all of them: :mod:`~remit.therapies.schedule` (timed events on the model's states and
parameters), :mod:`~remit.therapies.drugs` (conventional drugs as model events; each disease lists
its own) and :mod:`~remit.therapies.options` (the options ``remit predict`` compares).
"""

from remit.therapies.base import THERAPIES, ArmBase, ArmPlan, Therapy, arm_plan

# registration order is the order of the scenario's arm schemas (and of their docs)
from remit.therapies import ahsct, mobilization_only, msc, conventional, placebo, car_t  # noqa: E402,F401

__all__ = ["THERAPIES", "ArmBase", "ArmPlan", "Therapy", "arm_plan"]
