"""The local stack for tests and `make demo`: real servers on 127.0.0.1, started from Python.

Not used in a cluster. `binaries` builds the servers from the Go module proxy, `certs` makes
throw-away certificates, `processes` starts and stops server processes, `controlplane` runs
etcd + kube-apiserver + kube-controller-manager, and `stack` is `pace local up|env|status|down`.
"""
