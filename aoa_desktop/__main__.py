from __future__ import annotations

from aoa_desktop.launch import main

raise SystemExit(main())
