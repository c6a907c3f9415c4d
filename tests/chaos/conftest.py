"""The e2e tests' serving runtime fixture, for the chaos trials."""

from tests.e2e.conftest import serving

__all__ = ["serving"]
