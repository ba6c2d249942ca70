"""``python -m llmfinops.eval``: see :mod:`llmfinops.eval`."""

from llmfinops.eval._cli import main

raise SystemExit(main())
