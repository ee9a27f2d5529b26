"""The ``sentkit`` command line: ``sentkit --help`` lists the commands.

``main`` is the console-script entry point (``python -m sentkit`` runs it too). Importing this
package loads only the standard library; each command imports torch and friends when it runs.
"""

from sentkit.cli.main import main

__all__ = ["main"]
