"""Cluster DNS: `<service>.<namespace>.svc.cluster.local` answered from a watch cache.

Public surface::
    from clusterdns.server import ClusterDns
"""
