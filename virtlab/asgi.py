"""The application scripts/serve runs: plain pages through Django's ASGI handler, the
browser terminals' WebSockets through Channels.

A WebSocket is accepted only from this site's own pages (the Origin header must be
one of ALLOWED_HOSTS: another site cannot open a student's terminal with the
student's cookie) and carries the Django session, so the consumer knows the user.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "virtlab.settings")

from virtlab.request_threads import get_application  # noqa: E402

# Django first: the imports below need the apps loaded. Its handler reuses the threads
# that run views, so each keeps its database connection (virtlab/request_threads.py).
django_application = get_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from terminals.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
