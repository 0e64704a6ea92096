"""The cluster harness: hosts as network namespaces, cut mid-surge."""
