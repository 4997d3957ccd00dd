"""Design studies on top of the trial engine: sample size and power (:mod:`.power`), protocol
sweeps with common random numbers (:mod:`.sweep`) and global sensitivity analysis
(:mod:`.sensitivity`); :mod:`.report` writes their HTML pages. See docs/design.md.
"""

from remit.design.common import DesignError

__all__ = ["DesignError"]
