"""The loopback peers in tests/<folder>/ (sshd, smtp_peer, sms_peer) as modules, for helpers outside those folders."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def peer_module(name: str, folder: str):
    """tests/<folder>/<name>.py as the module ``name`` (one module object, whoever imports it first).

    By file rather than by sys.path: putting tests/<folder> on the path would also put its conftest.py
    where ``import conftest`` looks."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, TESTS / folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return sys.modules[name]
