"""Rodas4 coefficients, the one copy read by the numba kernel (remit.engine._kernel) and the JAX backend.

Hairer & Wanner, Solving ODEs II, 2nd ed. (1996); the coefficients of their Fortran code RODAS:
6 stages, order 4, embedded order 3, L-stable and stiffly accurate. Written in the form
``(I/(h*GAMMA) - J) K_i = f(y + sum_j A_ij K_j) + sum_j C_ij K_j / h``; every stage needs f.
Row 5 of A is also M1..M4 and row 6 adds K5 (stiffly accurate), so ``y_new = y + sum_j A_5j K_j
+ K5 + K6`` and the error estimate is K6.
"""

GAMMA = 0.25
A21 = 1.544
A31 = 0.9466785280815826
A32 = 0.2557011698983284
A41 = 3.314825187068521
A42 = 2.896124015972201
A43 = 0.9986419139977817
A51 = 1.221224509226641
A52 = 6.019134481288629
A53 = 12.53708332932087
A54 = -0.6878860361058950
C21 = -5.6688
C31 = -2.430093356833875
C32 = -0.2063599157091915
C41 = -0.1073529058151375
C42 = -9.594562251023355
C43 = -20.47028614809616
C51 = 7.496443313967647
C52 = -10.24680431464352
C53 = -33.99990352819905
C54 = 11.70890893206160
C61 = 8.083246795921522
C62 = -7.981132988064893
C63 = -31.52159432874371
C64 = 16.31930543123136
C65 = -6.058818238834054
