"""Random bytes drawn in blocks are never handed out twice."""

import threading

from mailward.core.entropy import random_bytes


def test_slices_never_repeat_across_refills_and_threads() -> None:
    seen: set[bytes] = set()
    lock = threading.Lock()

    def draw() -> None:
        mine = [random_bytes(12) for _ in range(2000)]  # several block refills
        with lock:
            seen.update(mine)

    workers = [threading.Thread(target=draw) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(seen) == 8000
    assert len(random_bytes(5000)) == 5000  # larger than a block: straight from the OS
