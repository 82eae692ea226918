"""Tools for checking gradients: ``gradcheck`` (user-facing) and hypothesis strategies (for tests)."""

from .gradcheck import GradcheckError, GradcheckReport, gradcheck, numerical_gradient
