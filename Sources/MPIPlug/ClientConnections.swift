import Hummingbird
import NIOCore
import Synchronization

/// The front door's request context: Hummingbird's basic one plus the connection the request came on,
/// so that a queued request can learn that its client has gone.
package struct FrontDoorContext: RequestContext {
    package var coreContext: CoreRequestContextStorage
    /// The connection the request arrived on.
    let channel: any Channel

    package init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// The client connections of rank 0's front door, each watched for its client hanging up.
///
/// On the first call of a connection, a ``ClientDisconnectWatcher`` goes first in its pipeline. When
/// the client closes its side (the server allows half-closure, so that is an input-closed event
/// rather than an inactive channel) or the connection drops, the call waiting on it is answered
/// `canceled` at once; the round loop then skips it before it reaches any rank
/// (`mpiplug_requests_shed_total{reason="client_gone"}`).
final class ClientConnections: Sendable {
    private let byChannel = Mutex<[ObjectIdentifier: ClientConnection]>([:])

    /// The watched connection of `channel`, starting to watch it on its first call; nil when the
    /// watcher cannot be added (the channel is closing).
    func connection(of channel: any Channel) async -> ClientConnection? {
        let key = ObjectIdentifier(channel)
        if let known = byChannel.withLock({ $0[key] }) { return known }
        let connection = ClientConnection()
        let watcher = ClientDisconnectWatcher(connection: connection, connections: self, key: key)
        do {
            try await channel.pipeline.addHandler(watcher, position: .first).get()
        } catch {
            return nil
        }
        return connection
    }

    fileprivate func add(_ connection: ClientConnection, key: ObjectIdentifier) {
        byChannel.withLock { $0[key] = connection }
    }

    fileprivate func remove(key: ObjectIdentifier) {
        _ = byChannel.withLock { $0.removeValue(forKey: key) }
    }

    /// How many connections are watched now (for tests).
    var count: Int { byChannel.withLock { $0.count } }
}

/// One client connection: whether its client has gone, and the call waiting on it (HTTP/1.1 serves
/// one call at a time per connection).
final class ClientConnection: Sendable {
    private let state = Mutex<(gone: Bool, waiting: Reply?)>((false, nil))

    /// Watches `reply` until ``unwatch()``; false (and not watched) when the client has already gone.
    func watch(_ reply: Reply) -> Bool {
        state.withLock { state in
            guard !state.gone else { return false }
            state.waiting = reply
            return true
        }
    }

    func unwatch() { state.withLock { $0.waiting = nil } }

    /// The client hung up: answers the waiting call `canceled`.
    fileprivate func clientLeft() {
        let waiting = state.withLock { state -> Reply? in
            state.gone = true
            defer { state.waiting = nil }
            return state.waiting
        }
        waiting?.abandon()
    }
}

/// Sees a client hang up: passes everything on, and tells its ``ClientConnection``.
final class ClientDisconnectWatcher: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    // Nothing is read here: every inbound message is passed on as it is.
    typealias InboundIn = NIOAny

    private let connection: ClientConnection
    private let connections: ClientConnections
    private let key: ObjectIdentifier

    init(connection: ClientConnection, connections: ClientConnections, key: ObjectIdentifier) {
        self.connection = connection
        self.connections = connections
        self.key = key
    }

    func handlerAdded(context: ChannelHandlerContext) {
        connections.add(connection, key: key)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        connections.remove(key: key)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { connection.clientLeft() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.clientLeft()
        context.fireChannelInactive()
    }
}
