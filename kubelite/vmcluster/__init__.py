"""`deploy/vm-cluster.sh`: a kubelite cluster on real QEMU VMs (issue 15 part 5)."""
