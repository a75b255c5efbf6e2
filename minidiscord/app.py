"""The ASGI application: routes requests to the engine, the web client and the health check."""

import hmac
import logging
from collections.abc import Callable

import trio

from .addresses import TrustedProxies
from .asgi_io import Receive, Scope, Send, client_address, header, refuse, respond
from .chat.accounts.factory import accounts_for, open_accounts
from .chat.accounts.http import AccountRoutes
from .chat.accounts.sqlite import SqliteAccounts
from .chat.accounts.store import AccountStore
from .chat.channels.factory import open_channels
from .chat.channels.memory import MemoryChannels
from .chat.channels.store import ChannelStore
from .chat.clock import wall_clock_ms
from .chat.cluster.metrics import register as register_cluster_metrics
from .chat.cluster.node import ClusterNode
from .chat.moderation.service import Moderation
from .chat.moderation.upkeep import prune_audit, relay_outbox
from .chat.reactions.factory import open_reactions
from .chat.reactions.memory import MemoryReactions
from .chat.reactions.store import ReactionStore
from .chat.reads.factory import open_reads
from .chat.reads.store import ReadStore
from .chat.search.factory import search_for
from .chat.search.scan import ScanSearch
from .chat.search.store import MessageSearch
from .chat.server import ChatServer
from .chat.store.factory import RunnableStore, store_for
from .config import Settings
from .engine import CloseReason, EngineServer
from .engine.cors import OriginPolicy
from .heaptrim import process_heap, trim_after_bursts
from .hostfixes import is_host_protocol_error
from .hosts import AllowedHosts
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .metrics import Metrics
from .redis.connection import DEFAULT_CALL_TIMEOUT, open_redis
from .sockets import AdapterFactory, InMemoryAdapter, Recovery, SocketServer
from .web.static import serve_web

logger = logging.getLogger("minidiscord")

# A store that takes longer than this to answer a health check counts as down.
HEALTH_CHECK_TIMEOUT = 2.0


class App:
    """The ASGI application of one server, composed around its :class:`SocketServer`:
    the host and proxy checks in front, ``/socket.io/`` to the Socket.IO server (its engine),
    ``/`` to the web client, ``/healthz`` and ``/metrics`` to operations; its lifespan starts
    the store, then the engine. Everything the server holds lives here, nothing in module
    globals (tests run several servers in one process)."""

    def __init__(self, settings: Settings, adapter: AdapterFactory = InMemoryAdapter) -> None:
        self.settings = settings
        self.metrics = Metrics()
        # The Socket.IO server, its engine and the ASGI app that serves it at
        # --socketio-path: what anyone using the Socket.IO layer on its own gets.
        self.sio = SocketServer(
            path=settings.socketio_path,
            ping_interval=settings.ping_interval,
            ping_timeout=settings.ping_timeout,
            max_http_buffer_size=settings.max_payload,
            cors_allowed_origins=settings.cors_origins,
            connect_timeout=settings.connect_timeout,
            metrics=self.metrics,
            adapter=adapter,
            client_buffer=settings.client_buffer,
            client_buffer_bytes=settings.client_buffer_bytes,
            ip_buffer_bytes=settings.ip_buffer_bytes,
            inbound_rate=settings.client_packet_rate,
            max_sessions=settings.max_connections,
            ip_connect_rate=settings.ip_connect_rate,
            ip_max_sessions=settings.ip_max_sessions,
            connection_state_recovery=(
                Recovery(max_disconnection_duration=settings.recovery_window)
                if settings.recovery_window > 0
                else None
            ),
        )
        self.proxies = TrustedProxies(settings.forwarded_allow_ips)
        self.hosts = AllowedHosts((*settings.allowed_hosts, settings.host))
        # HTTP routes under /api/ (the chat's accounts), if this app has any.
        self.api: AccountRoutes | None = None
        self._running = False

    @property
    def engine(self) -> EngineServer:
        return self.sio.engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        # From here on the client is whoever a trusted proxy says it is.
        scope = self.proxies.resolve(scope)
        path: str = scope.get("path", "")
        if not self.hosts.allows(header(scope, b"host")):
            await self._refuse_host(scope, receive, send)
            return
        if self.sio.app.serves(path):
            try:
                # Straight to the engine, as the Socket.IO server and its EngineApp would send
                # an exchange at their path: each layer's frame between would be held for a
                # connection's whole life (0.5 KiB).
                await self.sio.app.engine.handle(scope, receive, send)
            except Exception as exc:
                if not is_host_protocol_error(exc):
                    raise
                logger.info("client broke the HTTP exchange of %s: %s", path, exc)
        elif kind == "http":
            if path == "/healthz":
                await self._healthz(send)
            elif path == "/metrics":
                await self._metrics(scope, send)
            elif self.api is not None and self.api.serves(path):
                await self.api(scope, receive, send)
            elif not await serve_web(scope, receive, send):
                await respond(send, 404, "Not Found")
        elif kind == "websocket":
            await receive()
            await send({"type": "websocket.close", "code": 1008})

    async def _refuse_host(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.metrics.reject("host not allowed")
        logger.info(
            "refused %s for host %r from %s (not in --allowed-hosts)",
            scope.get("path", ""),
            header(scope, b"host"),
            client_address(scope),
        )
        body = "Invalid Host header: this server does not answer to that name\n"
        await refuse(scope, receive, send, 400, body)

    async def _metrics(self, scope: Scope, send: Send) -> None:
        token = self.settings.metrics_token
        if token is not None:
            presented = header(scope, b"authorization") or ""
            expected = f"Bearer {token}"
            if not hmac.compare_digest(presented.encode(), expected.encode()):
                self.metrics.reject("metrics unauthorized")
                await respond(
                    send,
                    401,
                    "Unauthorized: /metrics needs its token\n",
                    headers=[(b"www-authenticate", b'Bearer realm="metrics"')],
                )
                return
        await respond(send, 200, self.metrics.render(), content_type=METRICS_CONTENT_TYPE)

    async def health(self) -> str | None:
        """None when the server can serve; otherwise what is wrong."""
        if not self._running or self.engine.draining:
            return "not serving"
        return None

    async def _healthz(self, send: Send) -> None:
        problem = await self.health()
        if problem is None:
            await respond(send, 200, "ok\n")
        else:
            await respond(send, 503, f"unavailable: {problem}\n")

    async def start_services(self, nursery: trio.Nursery) -> None:
        """Start what outlives single requests; the lifespan's nursery holds them."""
        await nursery.start(self.engine.run)
        nursery.start_soon(trim_after_bursts, process_heap())
        self._running = True

    async def stop_services(self) -> None:
        self._running = False
        self.engine.close_all(CloseReason.SERVER_SHUTTING_DOWN)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        async with trio.open_nursery() as nursery:
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await self.start_services(nursery)
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.stop_services()
                    nursery.cancel_scope.cancel()
                    await send({"type": "lifespan.shutdown.complete"})
                    return


class ChatApp(App):
    """The chat server: the Socket.IO app with the chat's events on its default namespace."""

    def __init__(
        self,
        settings: Settings,
        store: RunnableStore,
        cluster: ClusterNode | None = None,
        *,
        account_store: AccountStore,
        channel_store: ChannelStore | None = None,
        reaction_store: ReactionStore | None = None,
        search: MessageSearch | None = None,
        read_store: ReadStore | None = None,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        # In cluster mode the node's adapter: recovery offsets are log positions, so a client
        # recovers on any node.
        super().__init__(settings, cluster.adapter if cluster is not None else InMemoryAdapter)
        self.store = store
        self.account_store = account_store
        self.channel_store = channel_store or MemoryChannels()
        self.reaction_store = reaction_store or MemoryReactions()
        self.search = search or ScanSearch(store)
        # Read positions (None: the ones the settings name, opened here).
        self.read_store = read_store if read_store is not None else open_reads(settings)
        self.accounts = accounts_for(settings, account_store, clock=clock)
        self.clock = clock
        self.api = AccountRoutes(
            self.accounts, OriginPolicy(settings.cors_origins), auth=settings.auth
        )
        # Cluster mode: this node's link to the others (its log reader, presence and
        # heartbeat); None on a single node.
        self.cluster = cluster
        self.chat = ChatServer(
            self.sio,
            self.store,
            history_limit=settings.history_limit,
            rate_limit=settings.rate_limit,
            history_rate=settings.history_rate,
            ip_new_user_rate=settings.ip_new_user_rate,
            ip_message_rate=settings.ip_message_rate,
            users_listed_offline=settings.users_listed_offline,
            presence_grace=settings.presence_grace,
            feed=cluster,
            # After a resync: clients take it for a lost connection, and reconnect.
            reconnect_all=lambda: self.engine.close_all(CloseReason.FORCED_CLOSE),
            accounts=self.accounts,
            auth=settings.auth,
            guest_lifetimes=self.accounts.lifetimes,
            channel_store=self.channel_store,
            reactions=self.reaction_store,
            search=self.search,
            clock=clock,
            read_store=self.read_store,
        )
        if cluster is not None:
            # After the chat attached itself to the cluster's log reader.
            register_cluster_metrics(self.metrics.registry, cluster)

    async def health(self) -> str | None:
        problem = await super().health()
        if problem is None and self.cluster is not None:
            problem = self.cluster.health()
        if problem is None:
            with trio.move_on_after(HEALTH_CHECK_TIMEOUT):
                if await self.store.healthy():
                    return None
            failure = self.store.failure
            if failure is not None:
                problem = f"the store refuses writes: {failure}"
            else:
                problem = self.store.trouble or "the store is not answering or not committing"
        return problem

    async def start_services(self, nursery: trio.Nursery) -> None:
        await nursery.start(self.store.run)
        await nursery.start(self.account_store.run)
        await nursery.start(self.channel_store.run)
        await nursery.start(self.reaction_store.run)
        await nursery.start(self.search.run)
        await nursery.start(self.read_store.run)
        if self.cluster is not None:
            await nursery.start(self.cluster.run)
        await self.chat.start(nursery)
        moderation = Moderation(self.accounts, clock=self.clock)
        nursery.start_soon(prune_audit, moderation, self.settings.audit_retention)
        if isinstance(self.account_store, SqliteAccounts):
            # What `minidiscord admin` does reaches this server's sockets (moderation/upkeep.py).
            await nursery.start(relay_outbox, self.account_store, self.chat.apply_effect)
        await super().start_services(nursery)

    async def stop_services(self) -> None:
        await super().stop_services()
        if self.cluster is not None:
            if self.cluster.presence.sockets and self.settings.presence_grace > 0:
                # Clients reconnecting to another node within the grace are online there
                # before this node lets their users go: others see no offline flicker. The
                # goodbye (one bounded call) must still fit in the shutdown timeout.
                room = self.settings.shutdown_timeout - 2 * DEFAULT_CALL_TIMEOUT
                await trio.sleep(min(self.settings.presence_grace, max(room, 0.0)))
            await self.cluster.leave()
        await self.account_store.close()
        await self.channel_store.close()
        await self.reaction_store.close()
        await self.search.close()
        await self.read_store.close()
        await self.store.close()


def create_app(
    settings: Settings | None = None,
    store: RunnableStore | None = None,
    account_store: AccountStore | None = None,
    *,
    clock: Callable[[], int] = wall_clock_ms,
) -> ChatApp:
    """The chat app; without stores, opens the ones the settings name (blocking, at
    startup: the chat store first, which migrates an SQLite file). ``clock``: wall-clock
    milliseconds (messages' timestamps, login sessions' lifetimes)."""
    settings = settings or Settings.from_env()
    if store is None:
        store = store_for(settings)
    if account_store is None:
        account_store = open_accounts(settings)
    reaction_store = open_reactions(settings)
    search = search_for(settings, store)
    cluster = None
    if settings.redis_url is not None:
        cluster = ClusterNode(
            open_redis(settings.redis_url),
            settings.redis_prefix,
            node_timeout=settings.node_timeout,
        )
    return ChatApp(
        settings,
        store,
        cluster,
        account_store=account_store,
        channel_store=open_channels(settings),
        reaction_store=reaction_store,
        search=search,
        clock=clock,
    )
