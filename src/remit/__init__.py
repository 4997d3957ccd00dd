"""remit: in-silico clinical trials of stem cell therapy for autoimmune disease."""

__version__ = "0.1.0"
