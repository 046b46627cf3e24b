"""StatefulSet controller (controller) and its pure ordered-identity plan (plan)."""
