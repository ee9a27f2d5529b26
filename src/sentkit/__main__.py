"""``python -m sentkit``: the ``sentkit`` command."""

from sentkit.cli import main

raise SystemExit(main())
