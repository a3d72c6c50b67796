"""fec-deploy: the fastest deployment of a checkpoint that keeps its accuracy, chosen by measurement on this
machine (candidates, exports, verification, timing, choice, report, Triton repository)."""

from fec.deploy.deploy import DeployResult, deploy
from fec.deploy.run import DeployOptions

__all__ = ["DeployOptions", "DeployResult", "deploy"]
