"""A local stand-in for Google People v1, Calendar v3 and Drive v3, for tests and the demo.

Served by ``standins.server.StandInServer`` on 127.0.0.1 under the roots the client library
is pointed at with ``client_options={"api_endpoint": ...}``:

    people   → {url}/            (the API's paths start with ``v1/``)
    calendar → {url}/calendar/v3/
    drive    → {url}/drive/v3/

Every request is routed and validated against the discovery documents the client library ships
(``standins.google_discovery``), so the stand-in cannot accept a call the real API would refuse.
State is in memory and public: a test seeds it with ``add_*`` and inspects the dicts directly.

    with GoogleStandIn(token="t0k3n", page_size=2) as google:
        rn = google.add_contact("Maria Jensen", emails=["Maria.Jensen@Example.org"])
        google.server.faults.add(Fault(status=429, retry_after=0.1))
        ... GoogleConnector(account, "t0k3n", base_url=google.url) ...
        assert rn not in google.contacts
"""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from standins.google_apis import HANDLERS, Call
from standins.google_discovery import Discovery, RequestRejected, google_error
from standins.google_seed import seed_demo
from standins.google_state import MIB, GoogleState
from standins.server import StandInServer

__all__ = ["GoogleStandIn", "seed_demo"]

_MOUNTS = (
    ("/calendar/v3/", "calendar", "v3"),
    ("/drive/v3/", "drive", "v3"),
    ("/", "people", "v1"),
)


class GoogleStandIn(GoogleState):
    def __init__(
        self,
        token: str,
        *,
        account: str = "crm-sync@northwind.test",
        page_size: int = 100,
        export_cap: int = 10 * MIB,
        port: int = 0,
    ) -> None:
        self.token = token
        super().__init__(account=account, page_size=page_size, export_cap=export_cap)
        self._apis = {api: Discovery(api, version) for _, api, version in _MOUNTS}
        self.add_calendar(account, summary=account, primary=True)
        self.server = StandInServer(self.handle, port=port)

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> GoogleStandIn:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> GoogleStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- HTTP -------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        for prefix, api, _version in _MOUNTS:
            if request.path.startswith(prefix):
                discovery = self._apis[api]
                path = request.path[len(prefix) :]
                break
        try:
            method, path_params = discovery.route(request.method, path)
            if request.headers.get("Authorization") != f"Bearer {self.token}":
                return google_error(
                    401,
                    "Request had invalid authentication credentials. Expected OAuth 2 access "
                    "token, login cookie or other valid authentication credential.",
                    reason="authError",
                )
            discovery.validate(method, path_params, request.args)
            body = discovery.validate_body(method, request.get_data())
            handler = HANDLERS.get(method.id)
            if handler is None:
                return google_error(501, f"{method.id} is not implemented by the stand-in")
            call = Call(method.id, path_params, request.args, body, request.headers)
            with self.lock:
                return handler(self, call)
        except RequestRejected as rejected:
            return rejected.response
