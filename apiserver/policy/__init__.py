"""Namespace policy admission: LimitRange defaults and bounds, ResourceQuota charges.

Both run on the create path after the object is defaulted and validated and
the namespace admitted, LimitRanger first (its defaults are what a quota on
requests/limits then charges), quota last (as in Kubernetes, so a create that
any other check refuses is never charged).
"""
