"""Calibration of population-level model parameters to the calibration-role trials of the
evidence base (``remit calibrate``, ABC-SMC with pyabc), and the calibrated sets shipped as
remit's defaults (:mod:`remit.calibration.shipped`)."""
