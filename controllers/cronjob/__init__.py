"""CronJob controller (controller) and its pure schedule plan (plan)."""
