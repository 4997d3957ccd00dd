"""Rheumatoid arthritis: everything remit knows of it, in one package.

- ``model``: the disease's module added to the shared immune core (states, parameters with units,
  ranges and sources, rate laws);
- ``clinical``: its ``[population]`` schema, history, eligibility, scores, events and endpoints;
- ``patient``: the patient a clinician describes to ``remit predict``, with their options, twins
  and guideline warnings.
"""

from remit.diseases.base import DISEASES
from remit.diseases.rheumatoid_arthritis.clinical import DISEASE

DISEASES.register(DISEASE.name, DISEASE)
