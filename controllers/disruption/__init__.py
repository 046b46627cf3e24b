"""The disruption controller: PodDisruptionBudget status."""
