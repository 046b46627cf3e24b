"""`kubelite proxy`: Services and Endpoints turned into iptables NAT rules, like kube-proxy's iptables mode.

Why a package of small pure parts: the rules builder (`proxy.rules`) and the
restore planner (`proxy.plan`) are pure functions, so every chain, probability
and transaction split is unit-tested without root; only `proxy.iptables` runs
commands, and `proxy.proxier` glues informers, batching and metrics together.

Public surface::

    from proxy.model import ServicePort, Endpoint, service_ports, ready_endpoints
    from proxy.rules import RulesConfig, RuleSet, RulesBuilder, build_rules, svc_chain, sep_chain, JUMPS
    from proxy.plan import plan_sync, plan_cleanup, render
    from proxy.iptables import Iptables, IptablesLike, IptablesError
    from proxy.syncer import RuleSyncer
    from proxy.syncrunner import SyncRunner
    from proxy.proxier import Proxier, ProxyConfig
    proxy.main.main(argv) -> int
"""
