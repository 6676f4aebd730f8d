"""The asyncio client: same results as the synchronous one, and the event loop keeps running."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from conftest import FIXTURE_SERVER, processes_mentioning
from cosmo_bundle import AsyncClient, Client, CommandTimeoutError, ConflictError, NotFoundError


def async_twin(client: Client, **env: str) -> AsyncClient:
    return AsyncClient(
        client.binary,
        data_dir=client.data_dir,
        server_dir=FIXTURE_SERVER,
        env={**client.env, **env},
    )


def test_the_whole_loop(client: Client) -> None:
    aclient = async_twin(client)

    async def main() -> None:
        added = await aclient.add("zigbee-switch", version="1.0.0")
        assert added.install_status == "PENDING"
        assert await aclient.show(added.id) == added
        built = await aclient.build()
        assert built.generation == 1
        await aclient.add("hue-lights", version="1.0.0")
        assert (await aclient.build()).generation == 2
        assert [g.number for g in await aclient.generations()] == [1, 2]
        assert (await aclient.rollback()).current == 1
        assert (await aclient.switch(2)).current == 2
        assert (await aclient.update("zigbee-switch", "1.1.0")).updated_version == "1.1.0"
        with pytest.raises(ConflictError):
            await aclient.add("legacy-thermostat", version="1.0.0")
        removed = await aclient.remove("hue-lights")
        assert removed.name == "hue-lights"
        with pytest.raises(NotFoundError):
            await aclient.show("hue-lights")
        assert {r.name for r in await aclient.list()} == {"zigbee-switch", "legacy-thermostat"}

    asyncio.run(main())
    # The synchronous client sees the same state.
    assert {r.name for r in client.list()} == {"zigbee-switch", "legacy-thermostat"}


def test_concurrent_reads_run_at_once(client: Client) -> None:
    client.add("zigbee-switch", version="1.0.0")
    aclient = async_twin(client)

    async def main() -> None:
        results = await asyncio.gather(*(aclient.list() for _ in range(8)))
        assert all(len(r) == 1 for r in results)

    asyncio.run(main())


@pytest.mark.usefixtures("no_leftover_processes")
def test_a_long_command_does_not_block_the_loop_and_cancelling_stops_it(
    client: Client, data_dir: Path
) -> None:
    client.add("zigbee-switch", version="1.0.0")
    # The build pauses for an hour after `uv sync`, as a slow uv would.
    slow = async_twin(client, COSMO_BUNDLE_PAUSE_AT="after-uv-sync")

    async def main() -> int:
        build = asyncio.create_task(slow.build())
        ticks = 0
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            ticks += 1
        assert not build.done()
        assert processes_mentioning(str(data_dir)), "the build is running"
        build.cancel()
        with pytest.raises(asyncio.CancelledError):
            await build
        return ticks

    ticks = asyncio.run(main())
    assert ticks > 50, f"the event loop ran only {ticks} times in 2 s"
    assert processes_mentioning(str(data_dir)) == []
    # Nothing was registered, the lock is free: a plain build works.
    assert client.generations() == []
    assert client.build().generation == 1


@pytest.mark.usefixtures("no_leftover_processes")
def test_async_timeout(client: Client, data_dir: Path) -> None:
    client.add("zigbee-switch", version="1.0.0")
    slow = async_twin(client, COSMO_BUNDLE_PAUSE_AT="after-uv-lock")
    slow.timeout = 2

    async def main() -> None:
        with pytest.raises(CommandTimeoutError):
            await slow.build()

    asyncio.run(main())
    assert processes_mentioning(str(data_dir)) == []
