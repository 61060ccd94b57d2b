import gc, os, threading, time
import pytest
from conftest import make_bot, Bot

def fds():
    return len(os.listdir('/proc/self/fd'))

def test_many(settings, slack, planetscale_client, slack_server, tmp_path, planetscale):
    from bot.adapters.store import Store
    counts = []
    for i in range(12):
        store = Store(f"sqlite:///{tmp_path / f'b{i}.db'}"); store.migrate()
        gen = make_bot(settings, slack, planetscale_client, store, slack_server)
        bot = next(gen)
        r = bot.command("list acme/app-db")
        for _ in gen: pass
        store.close()
        del bot, gen, r
        gc.collect()
        counts.append((fds(), threading.active_count()))
    print("\nCOUNTS", counts)
    print([t.name for t in threading.enumerate()])
