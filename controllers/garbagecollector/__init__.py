"""Garbage collector: deletes dependents whose owners are gone (ownerReferences)."""
