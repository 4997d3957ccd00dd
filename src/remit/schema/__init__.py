"""The toolkit every schema of remit is written with, split by job:

- :mod:`remit.schema.types`: strict numbers with ranges and units, choices, arrays, strings,
  closed frozen models, and the distributions and population fields every disease shares;
- :mod:`remit.schema.errors`: a validation error as one line naming the field, value and range;
- :mod:`remit.schema.toml`: reading a user's TOML file safely;
- :mod:`remit.schema.arms`: the arms of a trial, one schema per therapy.

A whole scenario (:class:`remit.scenario.TrialSpec`) is assembled from these and from the
registered diseases' population schemas.
"""
