"""The real backend: a kind cluster with pinned add-ons, driven through a kubeconfig context.

- :mod:`.versions` pins every version, URL and digest (the one place to bump);
- :mod:`.runner` runs command-line tools (docker, kind, kubectl) so tests can record the calls;
- :mod:`.cluster` creates and deletes the cluster and installs the add-ons (``labkit up/down``);
- :mod:`.deploy` applies a variant with server-side apply and removes it again;
- :mod:`.observe` turns API objects into Timeline rows and events (pure functions);
- :mod:`.kubectl` prints what a learner would type for the same step;
- :mod:`.backend` is :class:`KindBackend`, the Backend protocol on top of all that.

Only this package imports ``kubernetes``, and only inside functions, so ``import labkit`` stays fast.
"""
