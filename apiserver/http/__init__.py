"""The Kubernetes HTTP API (REST, discovery, OpenAPI, watch) over the typed core.

`HttpApi(service).start(host, port, ssl_context)` serves it; see `app` for the
dispatch, `routing` for request attributes, `handlers` for the verbs.
"""

from apiserver.http.app import Authorizer, HttpApi, is_loopback, request_attributes, server_ssl_context
from apiserver.http.routing import RequestInfo

__all__ = ["Authorizer", "HttpApi", "RequestInfo", "is_loopback", "request_attributes", "server_ssl_context"]
