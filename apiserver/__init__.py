"""The kubelite apiserver: the resource API over the kvstore, with a watch cache.

Public surface (ARCHITECTURE.md)::

    from apiserver.server import ApiServer
    srv = ApiServer(etcd_endpoints, listen="127.0.0.1:0")
    await srv.start(); srv.port; srv.endpoint; srv.service; await srv.stop()
"""
