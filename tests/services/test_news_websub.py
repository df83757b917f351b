"""WebSub pieces that need no hub: discovering a hub and a topic, and checking push signatures."""

from __future__ import annotations

import hashlib
import hmac

from bot.services.news.websub import discover, signature_valid

SECRET = "s3cret"
BODY = b"<rss><channel><title>x</title></channel></rss>"


def sign(algorithm: str, body: bytes = BODY, secret: str = SECRET) -> str:
    return f"{algorithm}=" + hmac.new(secret.encode(), body, getattr(hashlib, algorithm)).hexdigest()


def test_hub_and_self_are_found_in_atom_links_rss_atom_links_and_link_headers() -> None:
    atom = b'<feed><link rel="self" href="https://f.test/atom"/><link href="https://hub.test/" rel="hub"/></feed>'
    assert discover(atom, None) == ("https://hub.test/", "https://f.test/atom")
    rss = (b"<rss><channel><atom:link xmlns:atom='http://www.w3.org/2005/Atom' rel='hub' "
           b"href='https://hub.test/?a=1&amp;b=2'/></channel></rss>")
    assert discover(rss, None) == ("https://hub.test/?a=1&b=2", None)
    header = '<https://hub.test/h>; rel="hub", <https://f.test/feed>; rel="self"'
    assert discover(b"<rss/>", header) == ("https://hub.test/h", "https://f.test/feed")
    assert discover(b'<rss><link rel="alternate" href="https://x.test"/></rss>', None) == (None, None)


def test_only_a_matching_hmac_sha2_signature_is_accepted() -> None:
    assert signature_valid(SECRET, BODY, {"X-Hub-Signature-256": sign("sha256")})
    assert signature_valid(SECRET, BODY, {"X-Hub-Signature": sign("sha512")})
    assert not signature_valid(SECRET, BODY, {"X-Hub-Signature": sign("sha1")})  # too weak
    assert not signature_valid(SECRET, BODY + b" ", {"X-Hub-Signature-256": sign("sha256")})
    assert not signature_valid(SECRET, BODY, {"X-Hub-Signature-256": sign("sha256", secret="other")})
    assert not signature_valid(SECRET, BODY, {"X-Hub-Signature-256": "sha256="})
    assert not signature_valid(SECRET, BODY, {})
