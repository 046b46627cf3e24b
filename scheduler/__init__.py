"""kubelite's scheduler: binds pending pods to nodes, shaped like kube-scheduler.

Layout: `framework` (plugin protocols, CycleState, NodeInfo), `plugins/` (one
rule each), `cache` (nodes + assigned/assumed pods), `queue` (active, backoff,
unschedulable), `algorithm` (filter/score/select), `scheduler` (the loop and
binding), `main` (the daemon).

Public surface::

    from scheduler.scheduler import Scheduler
    Scheduler(client, rng=random.Random(seed)); await s.run(); await s.stop()
"""
