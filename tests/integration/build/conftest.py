"""A seeded registry per test (the same fixture the image-pull tests use)."""

from tests.integration.kubelet.images.conftest import registry_factory

__all__ = ["registry_factory"]
