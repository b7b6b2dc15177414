"""Helpers shared by test modules (never a test module itself): waiting, markers."""
