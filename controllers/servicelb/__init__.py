"""servicelb: addresses from a pool for Services of type LoadBalancer (in the spirit of k3s servicelb / MetalLB L2)."""
