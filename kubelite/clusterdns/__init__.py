"""Cluster DNS: `<service>.<namespace>.svc.cluster.local` answered from a watch cache.

Public surface::
    from kubelite.clusterdns.server import ClusterDns
"""
