"""The sentkit HTTP server (the ``server`` extra: FastAPI + uvicorn).

``create_app({"name": model}, ServerSettings(...))`` builds the app; ``sentkit serve`` runs it.
Importing this package without FastAPI raises :class:`~sentkit.errors.MissingDependencyError`
naming ``pip install 'sentkit[server]'``.
"""

from sentkit.server.app import create_app
from sentkit.server.batcher import MicroBatcher
from sentkit.server.metrics import Registry
from sentkit.server.run import serve
from sentkit.server.settings import ServerSettings

__all__ = ["MicroBatcher", "Registry", "ServerSettings", "create_app", "serve"]
