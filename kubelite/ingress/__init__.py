"""The nginx ingress controller: a pure planner/renderer (`nginxplan`) and a node agent that runs real nginx."""
