"""Helpers shared by integration and end-to-end tests (real servers, no mocks)."""
