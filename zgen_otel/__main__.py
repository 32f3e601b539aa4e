"""``python -m zgen_otel``: the ``zgen-otel`` command."""

from zgen_otel.cli import main

raise SystemExit(main())
