"""``eventeye.client`` exports exactly its public names, and importing it does not load the server."""

from __future__ import annotations

import subprocess
import sys
import types

import eventeye.client as client


def test_all_lists_every_public_member() -> None:
    public = [
        name
        for name, member in vars(client).items()
        if not name.startswith("_") and not isinstance(member, types.ModuleType)
    ]
    assert client.__all__ == sorted(public, key=str.casefold)
    assert {"EventEyeClient", "AsyncEventEyeClient"} <= set(client.__all__)


def test_importing_the_client_loads_no_server_code() -> None:
    server_modules = ("sqlalchemy", "fastapi", "eventeye.core")
    probe = f"import sys, eventeye.client; print(sorted(m for m in {server_modules!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert loaded.stdout.strip() == "[]"
