"""Published CAR-T series in autoimmune disease (remit.evidence.store reads this folder)."""
