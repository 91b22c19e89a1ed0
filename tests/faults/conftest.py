"""The fault suite reuses the pricing tests' local price providers and controllable clock."""

from tests.pricing.conftest import clock, providers, session

__all__ = ["clock", "providers", "session"]
