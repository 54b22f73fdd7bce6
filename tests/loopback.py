"""A real uvicorn server on loopback, in a thread, for tests that speak HTTP."""

from app.demo.serving import free_port, serving

__all__ = ["free_port", "serving"]
