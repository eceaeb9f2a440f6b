"""The names of the tests and corrections, apart from the code that runs them.

The declared options of the monitor list them; importing this module costs no SciPy.
"""

from __future__ import annotations

NUMERIC_TESTS = ("ks", "cvm")
CATEGORICAL_TESTS = ("chi2",)
CORRECTIONS = ("bonferroni", "fdr", "none")
