"""Import DeepMind's ``mathematics_dataset`` on current sympy.

``mathematics_dataset.sample.polynomials`` does
``from sympy.solvers.diophantine import base_solution_linear``; sympy >= 1.6 moved that
function into ``sympy.solvers.diophantine.diophantine``. We expose it on the package only
while ``mathematics_dataset`` is being imported, then remove it again, so the rest of the
process sees sympy unchanged.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def import_generator_modules() -> ModuleType:
    """``mathematics_dataset.modules.modules`` (the registry of generators), imported with the shim."""
    package = importlib.import_module("sympy.solvers.diophantine")
    added = not hasattr(package, "base_solution_linear")
    if added:
        implementation = importlib.import_module("sympy.solvers.diophantine.diophantine")
        package.base_solution_linear = implementation.base_solution_linear  # type: ignore[attr-defined]
    try:
        return importlib.import_module("mathematics_dataset.modules.modules")
    finally:
        if added:
            del package.base_solution_linear  # type: ignore[attr-defined]
