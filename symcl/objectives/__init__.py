"""Contrastive objectives: pure functions, and a module where there is state."""

from symcl.objectives.info_nce import info_nce, masked_info_nce
from symcl.objectives.module import InfoNCE
from symcl.objectives.temperature import LearnableTemperature

__all__ = ["InfoNCE", "LearnableTemperature", "info_nce", "masked_info_nce"]
