"""Progress without a terminal: plain lines at the start, on a heartbeat, and at the end."""

import io
import time

from reports.progress import progress_lines


def test_lines_come_on_a_heartbeat_even_while_nothing_finishes():
    out = io.StringIO()
    with progress_lines("judging", interval_s=0.05, stream=out) as update:
        update(0, 80)
        time.sleep(0.3)  # a model loading: nothing finishes, lines keep coming
        update(12, 80, "1 failed")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("judging 0/80 (0%), ")
    assert sum(line.startswith("judging 0/80") for line in lines) >= 3
    assert lines[-1].startswith("judging 12/80 (15%), 1 failed, ")
    assert all(line.endswith("elapsed") for line in lines)


def test_the_last_state_is_printed_once_at_the_end():
    out = io.StringIO()
    with progress_lines("judging", interval_s=60, stream=out) as update:
        update(0, 4)
        update(4, 4)
    assert out.getvalue().splitlines() == ["judging 0/4 (0%), 0s elapsed",
                                           "judging 4/4 (100%), 0s elapsed"]
