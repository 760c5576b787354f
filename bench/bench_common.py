"""What the bench scripts share (imported from their own folder, as bench_common.h is in C)."""


def cpu_name():
    """The CPU's model name from /proc/cpuinfo, written beside every figure."""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"
