"""The toolkit every schema of remit is written with, split by job:

- :mod:`remit.schema.types`: strict numbers with ranges and units, choices, arrays, strings,
  closed frozen models, and the distributions and population fields every disease shares;
- :mod:`remit.schema.errors`: a validation error as one line naming the field, value and range;
- :mod:`remit.schema.toml`: reading a user's TOML file safely.

A whole scenario (:class:`remit.scenario.TrialSpec`) is assembled from these, the registered
diseases' population schemas and the registered therapies' arm schemas.
"""
