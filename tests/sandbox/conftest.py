"""Two real simulator processes on one database (PostgreSQL when SIM_TEST_DATABASE_URL is set,
else one SQLite file in WAL mode)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import LiveServer, live_database_url, start_server, stop_server


@pytest.fixture(scope="module")
def two_servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LiveServer, LiveServer]]:
    database_url = live_database_url(tmp_path_factory.mktemp("pair"), "sim_pair")
    first = start_server(database_url)
    second = start_server(database_url)
    yield first, second
    stop_server(first)
    stop_server(second)
