from django.urls import path

from .consumers import TerminalConsumer

websocket_urlpatterns = [
    path("ws/terminals/<uuid:public_id>/", TerminalConsumer.as_asgi()),
]
