"""``python -m llmfinops``: the same as the ``llmfinops`` command."""

from __future__ import annotations

from ._cli import main

raise SystemExit(main())
