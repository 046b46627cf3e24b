"""The PersistentVolume controller: binding, local-path provisioning, reclaiming."""
