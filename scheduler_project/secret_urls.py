"""Keep the secret parts of URLs out of logs.

Some URLs are keys in themselves: calendar feeds (/ical/<token>.ics), invitation links
(/invite/<token>/), password reset links (/accounts/reset/<uid>/<token>/) and the signed media URLs
networks download images from (/m/<token>). Whoever reads a log line with one can use it, so every
log line written by gunicorn (access and error log) and by Django passes through `MaskSecretURLs`,
which replaces those segments with "[secret]".
"""

import logging
import re

MASK = "[secret]"

# Where a path starts: the start of the text, after a space or quote (a request line, a quoted
# path), or after the host of a full URL (a Referer).
_START = r"(?:^|(?<=[\s\"'=(])|(?<=://)[^/\s\"']*)"
_SEGMENT = r"[^/\s\"'?#]+"

_PATTERNS = [
    # Calendar feeds: /ical/<token>.ics
    re.compile(rf"({_START}/ical/)[^/\s\"'?#.]+"),
    # Invitations: /invite/<token>/
    re.compile(rf"({_START}/invite/){_SEGMENT}"),
    # Password reset: /accounts/reset/<uidb64>/<token>/ (Django's own "set-password" step is no secret).
    re.compile(rf"({_START}/accounts/reset/{_SEGMENT}/)(?!set-password\b){_SEGMENT}"),
    # Signed media URLs: /m/<token>
    re.compile(rf"({_START}/m/){_SEGMENT}"),
]


def mask_secret_urls(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + MASK, text)
    return text


class MaskSecretURLs(logging.Filter):
    """A logging filter that masks secret URL segments in the formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_secret_urls(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
