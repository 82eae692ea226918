"""``td.cuda``: is there a GPU tinydl can use?  (CuPy is imported on the first call, never at ``import tinydl``.)"""


def is_available():
    """True when CuPy is installed and sees at least one NVIDIA GPU; never raises."""
    try:
        return device_count() > 0
    except Exception:
        return False


def device_count():
    """How many GPUs CuPy sees (0 without CuPy or without a driver)."""
    try:
        import cupy

        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:
        return 0


def require():
    """Raise a clear RuntimeError (what is missing, how to install it) unless a GPU is usable here."""
    from .device import require_cupy

    require_cupy()
