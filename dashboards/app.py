"""``panel serve dashboards/app.py``: the observatory app on the configured database."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import panel as pn  # noqa: E402

from dashboards.observatory import ObservatoryApp, extension  # noqa: E402

extension()
language = pn.state.session_args.get("lang", [b"fr"])[0].decode() if pn.state.session_args \
    else "fr"
app = ObservatoryApp(language=language if language in ("fr", "en") else "fr")
app.sync_url()
app.template().servable()
