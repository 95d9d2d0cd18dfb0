"""A relay takes only its batch of the queue (`--batch-size`), so relays started together share the work
and a relay that dies holds no more than one batch; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import create_engine

from conftest import sync_district
from directory.db import session_factory
from directory.models import utcnow
from messaging import claims


def test_each_claim_takes_one_batch_and_two_relays_take_different_items(cli, db_url, tmp_path):
    queued = sync_district(cli, tmp_path, 12, seed=7)["invitations_queued"]
    assert queued > 10
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    factory = session_factory(engine)
    try:
        taken = []
        for owner in ("host:1:first", "host:2:second"):
            with factory.begin() as s:
                taken.append(claims.claim(s, "invitation", owner, utcnow(), timedelta(minutes=10), 5))
    finally:
        engine.dispose()
    # PostgreSQL once ran the batch's LIMIT subquery again for every row it updated: the first relay
    # claimed the whole queue and the second found nothing.
    assert [len(t) for t in taken] == [5, 5] and not set(taken[0]) & set(taken[1])
    listed = cli.json("invitations", "list", "maple", "--json")
    assert sum(1 for i in listed if i["status"] == "queued") == queued - 10
