"""Shim for Beam's `--setup_file ./setup.py`: all metadata lives in pyproject.toml."""

from setuptools import setup

setup()
