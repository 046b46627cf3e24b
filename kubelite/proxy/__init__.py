"""`kubelite proxy`: Services and Endpoints turned into iptables NAT rules, like kube-proxy's iptables mode.

Why a package of small pure parts: the rules builder (`proxy.rules`) and the
restore planner (`proxy.plan`) are pure functions, so every chain, probability
and transaction split is unit-tested without root; only `proxy.iptables` runs
commands, and `proxy.proxier` glues informers, batching and metrics together.

Public surface::

    from kubelite.proxy.model import ServicePort, Endpoint, service_ports, ready_endpoints
    from kubelite.proxy.rules import RulesConfig, RuleSet, RulesBuilder, build_rules, svc_chain, sep_chain, JUMPS
    from kubelite.proxy.plan import plan_sync, plan_cleanup, render
    from kubelite.proxy.iptables import Iptables, IptablesLike, IptablesError
    from kubelite.proxy.syncer import RuleSyncer
    from kubelite.proxy.syncrunner import SyncRunner
    from kubelite.proxy.proxier import Proxier, ProxyConfig
    from kubelite.proxy.netpol import NetpolInput, PodRecord, compile_policies, pod_record  # NetworkPolicy
    from kubelite.proxy.netpolreach import PolicyReach  # which pods a policy can read: others cost no sync
    from kubelite.proxy.netpolwatch import NetpolWatch
    proxy.main.main(argv) -> int
"""
