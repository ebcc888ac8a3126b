"""``python -m sotong_moderation`` runs the ``sotong-moderate`` CLI."""

from .cli import main

raise SystemExit(main())
