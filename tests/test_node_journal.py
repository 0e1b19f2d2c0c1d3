"""The node's journal: batches per series, replay after a crash (a line cut short)."""

from __future__ import annotations

from medden.node.journal import Journal


def _receive(journal: Journal, series: str, name: str) -> str:
    return journal.receive(series, name, "CT", lambda batch: None)


def test_a_series_arriving_after_it_closed_starts_the_next_batch(tmp_path):
    journal = Journal(tmp_path / "journal.jsonl")
    assert _receive(journal, "s", "a.dcm") == _receive(journal, "s", "b.dcm") == "s-0"
    assert [b.name for b in journal.close_idle(0.0)] == ["s-0"]
    assert _receive(journal, "s", "c.dcm") == "s-1"
    journal.refuse("t", "corrupt")
    (only_refused,) = [b for b in journal.close_idle(0.0) if b.series == "t"]
    assert only_refused.state == "failed" and only_refused.refused == 1
    journal.close()


def test_replay_gives_back_every_batch_and_drops_a_line_cut_short(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    _receive(journal, "s", "a.dcm")
    _receive(journal, "s", "b.dcm")
    (batch,) = journal.close_idle(0.0)
    journal.processed(batch, ["x.dcm", "y.dcm"])
    journal.sent(batch, "x.dcm")
    _receive(journal, "u", "c.dcm")
    journal.close()
    with open(path, "a") as handle:
        handle.write('{"event": "sent", "batch": "s-0", "fi')  # killed mid-write
    again = Journal(path)
    replayed = again.batches["s-0"]
    assert replayed.state == "processed" and replayed.unsent() == ["y.dcm"]
    assert again.batches["u-0"].state == "receiving"
    assert _receive(again, "u", "d.dcm") == "u-0"
    again.sent(replayed, "y.dcm")
    assert replayed.state == "delivered"
    again.close()
    last = Journal(path)
    assert last.batches["s-0"].state == "delivered"
    last.close()
