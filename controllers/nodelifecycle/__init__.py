"""Node lifecycle controller: node health, taints, and eviction of pods from failed nodes."""
