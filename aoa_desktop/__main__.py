from __future__ import annotations

from aoa_desktop.app import main

raise SystemExit(main())
