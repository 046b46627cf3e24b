"""The VXLAN overlay pod network: nodes on different subnets (no shared L2) reach each other's pods.

Why an overlay: host-gw routes (`kubelet.routes`) send a packet for another
node's pods to that node's IP as the next hop, which only works when every node
is on one L2 segment. With VXLAN each node has one VTEP device; a packet for a
peer's podCIDR is routed onto the VTEP, addressed (by a permanent neighbour
entry) to the peer VTEP's MAC, and the VTEP's forwarding database maps that MAC
to the peer's public IP, where it is sent inside UDP -- so only the public IPs
must be routable. The facts follow flannel's vxlan backend: the VTEP address is
the network address of the node's podCIDR (`.0/32`), MAC and public IP are
published on the Node, the route is `podCIDR via <peer .0> dev vtep onlink`.

The parts follow the proxy's model -> plan -> apply pipeline, so all decisions
are pure and unit-tested without root:

    from kubelet.overlay.model import VxlanConfig, Peer, peers_from_nodes, vtep_annotations
    from kubelet.overlay.plan import OverlayState, desired_state, plan_changes
    from kubelet.overlay.netlink import NetlinkLike, Pyroute2Netlink
    from kubelet.overlay.sync import VxlanSync, remove_vtep
"""
