"""The embedded twin: a discrete-event simulation of the cluster's autoscaling control loops.

Layout: ``clock`` (simulated time), ``pods`` (nodes, scheduler, Deployment controller, kubelet
probes), ``traffic`` (users, Service, queues), ``metrics`` (metrics-server and the metrics APIs),
``jobqueue`` (producers, the Redis list, worker pods), ``hpa_loop`` / ``keda_loop`` /
``scaledjob_loop`` / ``knative_loop`` (controller loops calling the pure rules in
``labkit.autoscalers``), ``world`` (wiring one variant), ``backend`` (the Backend interface).
"""

from .backend import SimBackend
from .params import TwinParams, load_params

__all__ = ["SimBackend", "TwinParams", "load_params"]
