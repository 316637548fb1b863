"""Headers every answer carries, set by the console's ``after_app_request`` hook on Flask's
answers and by api/fastpath.py on its own (they never reach that hook)."""
from __future__ import annotations

ALWAYS = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"))
HTML = (("X-Frame-Options", "DENY"),
        ("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; "
                                    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"))
