"""``panel serve dashboards/app.py``: the observatory app on the configured database."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashboards.observatory import serve  # noqa: E402

serve()
