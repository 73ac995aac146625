"""Shared test setup: make ``tests/`` importable (the catalogue) and keep JAX on the CPU."""

import os
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, os.path.dirname(__file__))
