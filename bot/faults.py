"""Fault reports: a view that is really a request to fix something (a pothole, a missed bin).

It is still stored as a view (it is feedback), but a view is not a service request: the
reply adds the council's reporting link for its theme (REPORT_URL_<THEME> or REPORT_URL).
"""

from __future__ import annotations

import re

_NOT = r"(?:not|n'?t|never|wasn'?t|weren'?t|hasn'?t|haven'?t|aint|ain'?t)"
_TAKEN = r"(?:collected|emptied|picked up|taken)"
_FAULTS = re.compile(
    "|".join(
        (
            r"\bpot ?holes?\b",
            r"\bstreet ?lights?\b.*\b(?:out|broken|not working|off|flicker\w*|dead)\b",
            r"\blamp ?posts?\b.*\b(?:out|broken|not working|down)\b",
            rf"\b(?:bins?|recycling|rubbish|collection)\b.*\b{_NOT}\b.*\b{_TAKEN}\b",
            r"\bmissed (?:bin|collection|recycling)\b",
            r"\bfly[- ]?tip\w*",
            r"\b(?:broken|cracked|loose|uneven|lifted) (?:paving|pavement|slabs?|kerbs?|flags?)\b",
            r"\bgraffiti\b",
            r"\b(?:blocked|overflowing) (?:drains?|gull(?:y|ies)|grids?)\b",
            r"\babandoned (?:car|van|vehicle)\b",
            r"\b(?:needles|syringes)\b",
            r"\b(?:broken|vandalised|smashed) (?:bench|swings?|bus shelter|play equipment)\b",
            r"\b(?:fallen|dead|dangerous) tree\b",
        )
    ),
    re.IGNORECASE,
)


def is_fault_report(text: str) -> bool:
    """True if the view reads as a specific fault the council fixes on request."""
    return bool(_FAULTS.search(text))
