"""What the SSRF tests share: the internal service's secret, and what the fakes were sent."""

from urllib.parse import urlsplit

from tests.networks.bluesky.fake import APP_PASSWORD

SECRET = "INTERNAL-SECRET-4711"
CREATE_SESSION = "com.atproto.server.createSession"


def port_of(fake) -> int:
    return urlsplit(fake.url).port


def sent_the_password(server) -> bool:
    return any(APP_PASSWORD.encode() in body for *_, body in server.hits)
