"""The clinical side of each disease: population, scores, events, endpoints (see :mod:`remit.clinical.base`).

The diseases are found through :data:`remit.diseases.DISEASES`."""
