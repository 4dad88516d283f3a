"""`mailward serve`: the listeners, the outbound worker and maintenance in one
process, until SIGTERM or SIGINT."""

import asyncio
import signal
from collections.abc import Callable

from mailward.config import listen_address
from mailward.runtime import Runtime
from mailward.smtp import start_listeners

PURGE_EVERY_S = 60.0


async def serve(rt: Runtime, announce: Callable[[str], None]) -> None:
    """Run until a stop signal; `announce` gets one line per listener bound."""
    relay = rt.relay()
    backend = rt.smtp_backend(queued=relay.wake)
    listeners = await start_listeners(
        backend,
        listen_address(rt.settings.smtp),
        listen_address(rt.settings.submission),
    )
    for name, (host, port) in listeners.addresses.items():
        announce(f"listening {name} {host}:{port}")
    relay.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    announce("ready")
    try:
        while not stop.is_set():
            await loop.run_in_executor(backend.pool, rt.purge_expired)
            try:
                await asyncio.wait_for(stop.wait(), PURGE_EVERY_S)
            except TimeoutError:
                continue
    finally:
        listeners.close()
        await listeners.wait_closed()
        relay.stop()
        backend.pool.shutdown(wait=True)
