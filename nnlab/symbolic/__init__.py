"""Symbolic derivatives beside every step, derived by sympy and checked against backprop.

* :mod:`nnlab.symbolic.rules` — :func:`~nnlab.symbolic.rules.step_rule`: an op's forward
  formula and local derivative(s), as sympy objects with Unicode and LaTeX.
* :mod:`nnlab.symbolic.chain` — :func:`~nnlab.symbolic.chain.chain_for`: the chain of
  factors from the backward target down to one element, each symbolic and numeric,
  every path and their sum, compared with the engine; :func:`~nnlab.symbolic.chain.format_chain`.
* :mod:`nnlab.symbolic.verify` — :func:`~nnlab.symbolic.verify.verify_gradients`: sympy's
  gradient of the whole target against the engine's, for every leaf element.

This package imports sympy; nothing in the core imports this package, so ``nnlab
check`` and the engine never pay for sympy. Import the submodules where symbolic
output is asked for.
"""
