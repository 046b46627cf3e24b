"""The node agent: registers its Node, runs the pods bound to it through a
CRI-shaped runtime (`kubelet.runtime`), reports their status, serves logs.

Entry point: `kubelet.main.main(argv)` (`kubelite kubelet ...`).
"""
