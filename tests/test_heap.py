"""Collections during the rules look only at what the rules made, and nothing stays set aside."""
import gc
import weakref

import pytest

from scoring.heap import collect_only_new


class Node:
    def __init__(self):
        self.me = self  # a reference cycle: only the collector frees it


def test_collections_in_the_block_free_its_cycles_and_what_came_before():
    before = Node()
    gone_before = weakref.ref(before)
    del before
    with collect_only_new():
        assert gone_before() is None  # collected on entry, not frozen for the block's length
        assert gc.get_freeze_count() > 0
        inside = Node()
        gone_inside = weakref.ref(inside)
        del inside
        gc.collect()
        assert gone_inside() is None
    assert gc.get_freeze_count() == 0


def test_nothing_stays_frozen_when_the_block_fails():
    with pytest.raises(RuntimeError):
        with collect_only_new():
            raise RuntimeError("a rule failed")
    assert gc.get_freeze_count() == 0
    kept = Node()  # an object made after the block is collectable again once garbage
    gone = weakref.ref(kept)
    del kept
    gc.collect()
    assert gone() is None
