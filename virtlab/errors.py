"""Error pages and error logging that Django leaves bare.

- ``MethodNotAllowedPage``: ``require_POST`` answers a GET with an empty 405, which a
  browser shows as a blank page. Someone who opens a form's target from a bookmark or
  the history gets a page of ours instead, saying what the address is for.
- ``OneLineForbidden``: Django logs every ``PermissionDenied`` with its traceback,
  although a 403 is the site working as intended (a student opening a class report);
  the log keeps one line per refusal, like a 404.
"""

from __future__ import annotations

import logging

from django.http import HttpResponseNotAllowed
from django.shortcuts import render


class MethodNotAllowedPage:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            isinstance(response, HttpResponseNotAllowed)
            and not response.content
            and not getattr(request, "htmx", False)
        ):
            allowed = response["Allow"]
            # OPTIONS and HEAD mean nothing to a reader; name what a form sends.
            methods = [m for m in allowed.split(", ") if m not in {"OPTIONS", "HEAD"}]
            page = render(
                request, "405.html", {"allowed_methods": " or ".join(methods)}, status=405
            )
            page["Allow"] = allowed
            return page
        return response


class OneLineForbidden(logging.Filter):
    """Drop the traceback from django.request's 403 records; keep the message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403 and record.exc_info:
            record.exc_info = None
            record.exc_text = None
        return True
