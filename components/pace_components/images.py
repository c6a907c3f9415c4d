"""The container image every PACE pipeline step runs in, pinned in one place.

Built from operator/Containerfile, target ``pipeline`` (`make images` builds it as
``localhost/pace-pipeline``; push it under this name). The image carries the `pace` wheel
(operator/pace and components/pace_components) with the operator environment's locked
dependencies, so steps install nothing at run time. Locally, kfp's SubprocessRunner runs the
same steps with the operator's own interpreter.
"""

BASE_IMAGE = "ghcr.io/pace-mlops/pace-pipeline:0.1.0"
