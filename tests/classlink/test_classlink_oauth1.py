"""OAuth 1.0a signing on known vectors: RFC 5849's own examples (HMAC-SHA1) and a SHA-256 vector of ours.

If a base string or signature here is wrong, ClassLink refuses every OneRoster 1.1 request with 401 and
the district's sync never runs.
"""

from __future__ import annotations

import requests

from connectors.classlink.oauth1 import (OAuth1Auth, authorization_header, base_string_uri, normalized_parameters,
                                         parse_authorization_header, percent_encode, request_parameters, sign,
                                         signature_base_string)

# RFC 5849 section 3.4.1.1 (the request of 3.1): query, protocol parameters and a form body.
RFC_URL = "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b"
RFC_OAUTH = [("oauth_consumer_key", "9djdj82h48djs9d2"), ("oauth_token", "kkk9d7dh3k39sjv7"),
             ("oauth_signature_method", "HMAC-SHA1"), ("oauth_timestamp", "137131201"), ("oauth_nonce", "7d8f3e4a")]
RFC_FORM = [("c2", ""), ("a3", "2 q")]
RFC_BASE = ("POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q"
            "%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_"
            "key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_m"
            "ethod%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk"
            "9d7dh3k39sjv7")


def test_percent_encoding_follows_rfc5849_section_3_6():
    assert percent_encode(" ") == "%20"  # never "+"
    assert percent_encode("!*'()+/=&") == "%21%2A%27%28%29%2B%2F%3D%26"
    assert percent_encode("AZaz09-._~") == "AZaz09-._~"
    assert percent_encode("é") == "%C3%A9"  # UTF-8 first, upper-case hex
    assert percent_encode("あ") == "%E3%81%82"


def test_base_string_uri_examples_of_section_3_4_1_2():
    assert base_string_uri("http://EXAMPLE.COM:80/r%20v/X?id=123") == "http://example.com/r%20v/X"
    assert base_string_uri("https://www.example.net:8080/?q=1") == "https://www.example.net:8080/"
    assert base_string_uri("HTTPS://Host.example:443") == "https://host.example/"


def test_parameters_and_base_string_of_section_3_4_1():
    params = request_parameters(RFC_URL, RFC_OAUTH + [("oauth_signature", "x"), ("realm", "Example")], RFC_FORM)
    assert normalized_parameters(params) == (
        "a2=r%20b&a3=2%20q&a3=a&b5=%3D%253D&c%40=&c2=&oauth_consumer_key=9djdj82h48djs9d2&oauth_nonce=7d8f3e4a"
        "&oauth_signature_method=HMAC-SHA1&oauth_timestamp=137131201&oauth_token=kkk9d7dh3k39sjv7")
    assert signature_base_string("post", RFC_URL, RFC_OAUTH, RFC_FORM) == RFC_BASE


def test_hmac_sha1_signature_of_the_photos_request_in_section_1_2():
    # GET /photos?file=vacation.jpg&size=original, consumer secret kd94hf93k423kf44, token secret
    # pfkkdhi9sl3r4s00: the RFC gives oauth_signature="MdpQcU8iPSUjWoN%2FUDMsK2sui9I%3D".
    oauth = [("oauth_consumer_key", "dpf43f3p2l4k3l03"), ("oauth_token", "nnch734d00sl2jdk"),
             ("oauth_signature_method", "HMAC-SHA1"), ("oauth_timestamp", "137131202"), ("oauth_nonce", "chapoH")]
    base = signature_base_string("GET", "http://photos.example.net/photos?file=vacation.jpg&size=original", oauth)
    assert base == ("GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26oauth_consumer_key%3D"
                    "dpf43f3p2l4k3l03%26oauth_nonce%3DchapoH%26oauth_signature_method%3DHMAC-SHA1%26"
                    "oauth_timestamp%3D137131202%26oauth_token%3Dnnch734d00sl2jdk%26size%3Doriginal")
    signature = sign(base, "kd94hf93k423kf44", "pfkkdhi9sl3r4s00", "HMAC-SHA1")
    assert signature == "MdpQcU8iPSUjWoN/UDMsK2sui9I="
    header = authorization_header(oauth + [("oauth_signature", signature)])
    assert 'oauth_signature="MdpQcU8iPSUjWoN%2FUDMsK2sui9I%3D"' in header
    assert dict(parse_authorization_header(header))["oauth_signature"] == signature


def test_hmac_sha256_on_a_classlink_shaped_request():
    # Our own vector: a OneRoster 1.1 delta page as ClassLink signs it (no token, empty token secret).
    # The base string was written out by hand from the RFC's rules; the signature was computed apart from
    # this code, with: printf '%s' BASE | openssl dgst -sha256 -hmac 's3cr3t&' -binary | base64
    url = ("https://oneroster-proxy.classlink.io/ims/oneroster/v1p1/users?limit=100&offset=0"
           "&filter=dateLastModified%3E%272025-01-01T00%3A00%3A00.000Z%27")
    oauth = [("oauth_consumer_key", "abc123"), ("oauth_nonce", "n0nce42"), ("oauth_signature_method", "HMAC-SHA256"),
             ("oauth_timestamp", "1735689600"), ("oauth_version", "1.0")]
    base = signature_base_string("GET", url, oauth)
    assert base == ("GET&https%3A%2F%2Foneroster-proxy.classlink.io%2Fims%2Foneroster%2Fv1p1%2Fusers&filter%3D"
                    "dateLastModified%253E%25272025-01-01T00%253A00%253A00.000Z%2527%26limit%3D100%26"
                    "oauth_consumer_key%3Dabc123%26oauth_nonce%3Dn0nce42%26oauth_signature_method%3DHMAC-SHA256%26"
                    "oauth_timestamp%3D1735689600%26oauth_version%3D1.0%26offset%3D0")
    assert sign(base, "s3cr3t") == "Ow3OW77Txq7WdbixKBzMrR9pIYc/L2nQq8N9VuSaF34="
    assert sign(base, "s3cr3t", "", "HMAC-SHA256") != sign(base, "s3cr3t", "", "HMAC-SHA1")


def test_the_requests_hook_signs_what_requests_sends_and_never_the_secret():
    nonces = iter(["n1", "n2"])
    auth = OAuth1Auth("abc123", "s3cr3t/+=", clock=lambda: 1735689600.9, nonce=lambda: next(nonces))
    sent = []
    for _ in range(2):
        req = requests.Request("GET", "http://127.0.0.1:8080/ims/oneroster/v1p1/users",
                               params={"limit": 5, "filter": "dateLastModified>'2025-01-01T00:00:00.000Z'"}).prepare()
        header = auth(req).headers["Authorization"]
        assert "s3cr3t" not in header and "s3cr3t" not in repr(auth)
        params = dict(parse_authorization_header(header))
        assert (params["oauth_consumer_key"], params["oauth_signature_method"], params["oauth_version"],
                params["oauth_timestamp"]) == ("abc123", "HMAC-SHA256", "1.0", "1735689600")
        assert "oauth_token" not in params  # two-legged: no token at all
        # The server's view: the URL as sent (query encoded by requests) and the header's parameters.
        base = signature_base_string("GET", req.url, [(k, v) for k, v in params.items() if k != "oauth_signature"])
        assert params["oauth_signature"] == sign(base, "s3cr3t/+=")
        sent.append(params["oauth_nonce"])
    assert sent == ["n1", "n2"]  # a fresh nonce per request, so a retried request is never a replay
