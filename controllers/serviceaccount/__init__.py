"""ServiceAccount controller: a `default` ServiceAccount in every namespace."""
