"""Shared test fixtures: the optional torch module, data directory, GPU skip."""

import importlib.util
import os
import pathlib

import numpy as np
import pytest
from hypothesis import settings

# Hypothesis: a CI profile that keeps the suite fast and deterministic.
settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

HAS_TORCH = importlib.util.find_spec("torch") is not None


@pytest.fixture(scope="session")
def torch():
    """The torch module, or skip the test when torch is not installed."""
    if not HAS_TORCH:
        pytest.skip("torch is not installed (pip install torch==2.13.0 or the 'torch' extra)")
    import torch as _torch

    return _torch


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def data_dir():
    """Where the real MedMNIST files are (TINYDL_DATA_DIR, else ../shared/medmnist beside the repo)."""
    env = os.environ.get("TINYDL_DATA_DIR")
    candidates = [pathlib.Path(env)] if env else []
    candidates.append(pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "medmnist")
    for c in candidates:
        if c.is_dir():
            return c
    pytest.skip("no MedMNIST data directory (set TINYDL_DATA_DIR)")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The NVRTC resource table of every CUDA kernel (tests/test_cuda_compile.py), when that test ran."""
    table = getattr(config, "cuda_resource_table", None)
    if table:
        terminalreporter.section("CUDA kernels compiled by NVRTC: registers, shared memory, spills")
        terminalreporter.write_line(
            f"{'file':13} {'kernel':26} {'arch':6} {'registers':>9} {'shared B':>9} {'spill st':>9} {'spill ld':>9}"
        )
        for line in table:
            terminalreporter.write_line(line)
