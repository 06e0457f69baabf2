"""A stand-in LMS for the LTI tests: its own RSA key, and a loopback HTTP server with
the endpoints a real platform has — its JWKS, an OAuth2 token endpoint that checks
our signed client assertion against our JWKS, a line item's score endpoint and a
roster (NRPS) endpoint that check the bearer token it issued. Every request the server
answers is recorded for the tests to inspect.

The browser's part (the OIDC login and the platform posting the id_token back) is
played by the test with Django's client; the id_tokens are signed here like a real
platform signs them.
"""

from __future__ import annotations

import html
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
DL_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
LINEITEM_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class Platform:
    issuer: str = "https://lms.example.test"
    client_id: str = "virtlab-client-1"
    deployment_id: str = "deployment-1"
    kid: str = field(default_factory=lambda: f"platform-{uuid.uuid4().hex[:8]}")
    requests: list[Recorded] = field(default_factory=list)
    tool_jwks: dict | None = None  # ours, as the platform fetched it from our JWKS URL
    issued_tokens: dict[str, str] = field(default_factory=dict)  # token → scope
    score_status: int = 200  # what the score endpoint answers (503: the LMS is down)
    members: list[dict] = field(default_factory=list)
    # The host name in the platform's URLs. A browser test names it like the live
    # server ("localhost"), so the two are one site and Lax cookies flow over plain HTTP.
    host: str = "127.0.0.1"
    # What the platform's auth endpoint signs into the id_token it posts back (the
    # browser tests' launches): keyword arguments of claims().
    next_claims: dict = field(default_factory=dict)

    def __post_init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    # --- addresses -----------------------------------------------------------------

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.server.server_address[1]}"

    @property
    def jwks_url(self) -> str:
        return f"{self.base}/jwks"

    @property
    def token_url(self) -> str:
        return f"{self.base}/token"

    @property
    def auth_url(self) -> str:
        return f"{self.base}/auth"

    def lineitem_url(self, n: int = 1) -> str:
        return f"{self.base}/courses/7/lineitems/{n}/lineitem"

    @property
    def members_url(self) -> str:
        return f"{self.base}/courses/7/memberships"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def recorded(self, path_part: str) -> list[Recorded]:
        return [r for r in self.requests if path_part in r.path]

    # --- what the platform signs -------------------------------------------------------

    def jwks(self) -> dict:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def id_token(self, claims: dict, *, key=None, kid: str | None = None) -> str:
        return jwt.encode(
            claims, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid}
        )

    def claims(
        self,
        *,
        nonce: str,
        sub: str = "student-42",
        roles=(LEARNER,),
        target: str | None = "quiz/hypervisor-types",
        message_type: str = "LtiResourceLinkRequest",
        context_id: str = "course-7",
        lineitem: int | None = 1,
        lifetime: int = 300,
        **overrides,
    ) -> dict:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.client_id,
            "sub": sub,
            "iat": now,
            "exp": now + lifetime,
            "nonce": nonce,
            "given_name": "Ada",
            "family_name": "Lovelace",
            "name": "Ada Lovelace",
            "email": "ada@example.test",
            LTI + "deployment_id": self.deployment_id,
            LTI + "message_type": message_type,
            LTI + "version": "1.3.0",
            LTI + "roles": list(roles),
            LTI + "context": {"id": context_id, "title": "Virtualization 101", "label": "VIRT101"},
            LTI + "target_link_uri": "http://testserver/lti/launch/",
            NRPS_CLAIM: {"context_memberships_url": self.members_url, "service_versions": ["2.0"]},
        }
        if message_type == "LtiResourceLinkRequest":
            claims[LTI + "resource_link"] = {"id": "link-1", "title": "Hypervisor quiz"}
            if target:
                claims[LTI + "custom"] = {"virtlab_target": target}
            if lineitem is not None:
                claims[AGS_CLAIM] = {
                    "scope": [SCORE_SCOPE, LINEITEM_SCOPE],
                    "lineitems": f"{self.base}/courses/7/lineitems",
                    "lineitem": self.lineitem_url(lineitem),
                }
        else:
            claims[DL_SETTINGS] = {
                "deep_link_return_url": f"{self.base}/deep-link-return",
                "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["iframe", "window"],
                "accept_multiple": True,
                "data": "opaque-platform-data",
            }
        claims.update(overrides)
        return claims


def _handler(platform: Platform):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _record(self) -> Recorded:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            recorded = Recorded(self.command, self.path, dict(self.headers), body)
            platform.requests.append(recorded)
            return recorded

        def _send(self, status: int, payload=None, content_type="application/json", headers=()):
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _bearer_ok(self, recorded: Recorded, scope_part: str) -> bool:
            auth = recorded.headers.get("Authorization", "")
            token = auth.removeprefix("Bearer ")
            return auth.startswith("Bearer ") and scope_part in platform.issued_tokens.get(
                token, ""
            )

        def do_GET(self):
            recorded = self._record()
            path = urlsplit(self.path).path
            if path == "/jwks":
                return self._send(200, platform.jwks())
            if path == "/auth":
                return self._auth(parse_qs(urlsplit(self.path).query))
            if path == "/course":
                # The LMS's page with virtlab in a frame, as Moodle and Canvas show tools.
                login = parse_qs(urlsplit(self.path).query)["login"][0]
                page = (
                    '<!doctype html><html lang="en"><head><title>Course</title></head><body>'
                    f'<h1>Course</h1><iframe title="virtlab" src="{html.escape(login)}" '
                    'width="1000" height="700"></iframe></body></html>'
                )
                return self._send_html(page)
            if path == "/courses/7/memberships":
                if not self._bearer_ok(recorded, "contextmembership.readonly"):
                    return self._send(401, {"error": "bad token"})
                return self._send(
                    200,
                    {
                        "id": platform.members_url,
                        "context": {"id": "course-7"},
                        "members": platform.members,
                    },
                    content_type="application/vnd.ims.lti-nrps.v2.membershipcontainer+json",
                )
            return self._send(404, {"error": "no such path"})

        def do_POST(self):
            recorded = self._record()
            path = urlsplit(self.path).path
            if path == "/token":
                return self._token(recorded)
            if path == "/deep-link-return":
                return self._send_html("<!doctype html><title>Added</title><p>Added.</p>")
            if path.endswith("/lineitem/scores"):
                if not self._bearer_ok(recorded, "lti-ags/scope/score"):
                    return self._send(401, {"error": "bad token"})
                if platform.score_status != 200:
                    return self._send(platform.score_status, {"error": "down for maintenance"})
                return self._send(200, {})
            return self._send(404, {"error": "no such path"})

        def _send_html(self, page: str):
            data = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _auth(self, query: dict):
            """The platform's OIDC auth endpoint: the user is signed in to the LMS, so it
            posts a signed id_token for the requested nonce back to the tool at once."""
            params = {key: values[0] for key, values in query.items()}
            claims = platform.claims(nonce=params["nonce"], **platform.next_claims)
            token = platform.id_token(claims)
            page = (
                '<!doctype html><html lang="en"><head><title>Launching</title></head><body>'
                f'<form method="post" action="{html.escape(params["redirect_uri"])}">'
                f'<input type="hidden" name="id_token" value="{token}">'
                f'<input type="hidden" name="state" value="{html.escape(params["state"])}">'
                "<button>Continue</button></form>"
                "<script>document.forms[0].submit()</script></body></html>"
            )
            return self._send_html(page)

        def _token(self, recorded: Recorded):
            """OAuth2 client credentials with a JWT assertion signed by the tool, checked
            against the tool's JWKS as the platform fetched it."""
            form = recorded.form()
            try:
                assert form["grant_type"] == "client_credentials"
                assert form["client_assertion_type"] == (
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
                )
                assertion = form["client_assertion"]
                kid = jwt.get_unverified_header(assertion)["kid"]
                jwk = next(k for k in platform.tool_jwks["keys"] if k["kid"] == kid)
                key = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(jwk))
                claims = jwt.decode(
                    assertion, key, algorithms=["RS256"], audience=platform.token_url
                )
                assert claims["iss"] == claims["sub"] == platform.client_id
            except Exception as error:
                return self._send(400, {"error": "invalid_client", "detail": repr(error)})
            token = secrets.token_urlsafe(16)
            platform.issued_tokens[token] = form.get("scope", "")
            return self._send(
                200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600}
            )

    return Handler
