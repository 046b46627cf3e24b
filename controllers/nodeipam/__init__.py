"""Node IPAM controller: gives every node a podCIDR."""
