"""Unit tests of the Python client's replica (the apply rule of bridge.proto).

Run: /usr/bin/python3 -m unittest discover -s clients/python (bridge's
TestPolyglotReplicaRule runs them).
"""
import types
import unittest

from client import Replica


def upd(**kw):
    u = dict(from_seq=0, to_seq=0, indexes=[], deltas=[], sum=0, full=False,
             coalesced=1, queue_tick=0, gap=False, transitions=[])
    u.update(kw)
    return types.SimpleNamespace(**u)


def replica(time, seq):
    r = Replica(len(time))
    r.seed(seq, time, 0)
    return r


class ApplyRule(unittest.TestCase):
    def test_full_at_or_below_seq_is_applied(self):
        r = replica([1, 2], 7)
        self.assertEqual(r.apply(upd(to_seq=7, full=True, indexes=[0, 1], deltas=[1, 3], sum=4)),
                         "applied")
        self.assertEqual(r.time, [1, 3])
        self.assertEqual(r.seq, 7)
        # a restarted server whose seqs started over
        self.assertEqual(r.apply(upd(to_seq=2, full=True, indexes=[1], deltas=[1], sum=1)),
                         "applied")
        self.assertEqual((r.time, r.seq), ([0, 1], 2))

    def test_stale_gap_and_matching_diffs(self):
        r = replica([1, 2], 7)
        self.assertEqual(r.apply(upd(from_seq=5, to_seq=7, indexes=[0], deltas=[1], sum=4)), "ignored")
        self.assertEqual(r.apply(upd(from_seq=8, to_seq=9, indexes=[0], deltas=[1], sum=4)), "gap")
        self.assertEqual(r.apply(upd(from_seq=7, to_seq=8, indexes=[0], deltas=[1], sum=4)), "applied")
        self.assertEqual(r.time, [2, 2])
        self.assertEqual(r.apply(upd(from_seq=8, to_seq=9, indexes=[0], deltas=[1], sum=99)), "drift")


if __name__ == "__main__":
    unittest.main()
