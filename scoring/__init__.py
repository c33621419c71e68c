"""Audit China's work-safety liability insurance (安全生产责任保险) submissions."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ancx-scoring")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+local"
