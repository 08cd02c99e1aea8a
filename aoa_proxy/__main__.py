from __future__ import annotations

from aoa_proxy.cli import main

raise SystemExit(main())
