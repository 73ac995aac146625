"""Benchmarks: jaxsched vs optax vs a hand-written fused ``jnp`` expression.

Run ``python -m benchmarks`` (``--help`` for options); results are summarized in
``benchmarks/RESULTS.md``.
"""
