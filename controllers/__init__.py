"""The controller-manager: ReplicaSet, Deployment and garbage-collector controllers.

Every controller here is level-triggered (design §4): informer event handlers
only enqueue `namespace/name` keys, and `reconcile(key)` reads desired and
observed state from the shared informer caches, acts idempotently and requeues
on conflict or error. The decision logic lives in pure functions
(`controllers.replicaset.plan`, `controllers.deployment.templatehash`, `controllers.deployment.rollout`) so it is
tested without any I/O; the controller classes only do the reading and writing.

Run it with `kubelite controller-manager --server H:P --listen-health H:P`.
"""
