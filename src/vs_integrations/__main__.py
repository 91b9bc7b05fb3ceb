"""``python -m vs_integrations``: the ``vs`` command line."""

from .tools.cli import main

raise SystemExit(main())
