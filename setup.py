"""Builds the one C part, ``rtcseams._fastsend`` (cffi, API mode); the rest is in pyproject.toml."""

from setuptools import setup

setup(cffi_modules=["rtcseams/fastsend_build.py:ffibuilder"])
