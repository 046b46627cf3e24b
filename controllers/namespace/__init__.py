"""Namespace controller: deletes a terminating namespace's contents, then the namespace."""
