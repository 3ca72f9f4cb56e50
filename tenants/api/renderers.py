"""JSON responses without the per-request overhead: orjson rendering and a short cut in negotiation.

Both keep DRF's output and choices: values orjson does not know natively (datetimes, Decimal, lazy
strings, numpy scalars) go through DRF's own encoder, `; indent=` requests take DRF's renderer, and any
Accept header other than "anything" or plain JSON goes through DRF's full negotiation (so a client
asking only for XML still gets 406).
"""
from __future__ import annotations

import orjson
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
_encoder = JSONEncoder()


class FastJSONRenderer(JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if data is None:
            return b""
        if accepted_media_type and "indent" in accepted_media_type:
            return super().render(data, accepted_media_type, renderer_context)
        return orjson.dumps(data, default=_encoder.default, option=OPTIONS)


PLAIN_ACCEPTS = {"", "*/*", "application/json"}


class JSONFirstNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        accept = request.META.get("HTTP_ACCEPT", "")
        if (
            accept in PLAIN_ACCEPTS and not format_suffix and renderers
            and renderers[0].media_type == "application/json"
            and self.settings.URL_FORMAT_OVERRIDE not in request.META.get("QUERY_STRING", "")  # ?format=
        ):
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)
