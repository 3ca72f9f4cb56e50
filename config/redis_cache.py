"""Django's Redis cache backend, reusing one client per connection pool, with a cheaper decoder.

Django's RedisCacheClient builds a new `redis.Redis` for every operation; with redis-py 8 that costs
more CPU than the round trip itself (it rebuilds the response-callback table each time). A client only
wraps the pool, so one per pool serves every call, from any thread.

Django's RedisSerializer decodes a value by trying int() first and unpickling on ValueError. For a
pickled value that builds an error message holding the repr of the whole value, which for a user's
ranking (a few KB) costs more than unpickling it. The values are the same; only the test differs: a
pickle always starts with the PROTO opcode (0x80), while integers are stored as their digits.
"""
from __future__ import annotations

import os
import pickle
import threading

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient, RedisSerializer

PICKLE_PROTO = b"\x80"


class Serializer(RedisSerializer):
    def loads(self, data):
        if data[:1] == PICKLE_PROTO:
            return pickle.loads(data)
        return super().loads(data)


_own = threading.local()  # per thread (and process): {id(pool): connection}


def round_trip(pool, commands: list[tuple]) -> list:
    """Send `commands` in one write on this thread's own connection and return their replies, in order.

    redis-py's pipeline object, and even taking a connection from the pool and giving it back, cost more
    CPU per call than the round trip itself on the serving hot path. So each thread keeps one connection
    per pool (made by the pool, with its settings and timeouts; a forked child makes its own). An error
    drops the connection (replies may be left unread; the next call reconnects) and is raised, as
    redis-py does (an error reply raises ResponseError).
    """
    if getattr(_own, "pid", None) != os.getpid():
        _own.pid, _own.connections = os.getpid(), {}
    connection = _own.connections.get(id(pool))
    if connection is None:
        connection = _own.connections[id(pool)] = pool.make_connection()
    try:
        connection.send_packed_command(connection.pack_commands(commands), check_health=False)
        return [connection.read_response() for _ in commands]
    except BaseException:
        connection.disconnect()
        raise


class ReusingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("serializer", Serializer)
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient
