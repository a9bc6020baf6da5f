import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOTLS
import Synchronization

/// The bounds on connections (see ``MPIPlugConfiguration``): how long each phase of a connection may
/// last, and how many may be open.
struct ConnectionLimits: Sendable {
    var idleTimeout: Duration
    var headerReadTimeout: Duration
    var tlsHandshakeTimeout: Duration
    var maximumConnections: Int
    var usesTLS: Bool
    var maximumConcurrentStreams: Int
    var maximumStreamResets: Int
    var streamResetWindow: Duration
    /// How long an HTTP/2 connection's open streams may take to finish after a graceful shutdown began.
    var gracefulCloseTimeout: Duration

    init(_ configuration: MPIPlugConfiguration) {
        idleTimeout = configuration.idleTimeout
        headerReadTimeout = configuration.headerReadTimeout
        tlsHandshakeTimeout = configuration.tlsHandshakeTimeout
        maximumConnections = configuration.maximumConnections
        usesTLS = configuration.tls != nil
        maximumConcurrentStreams = configuration.maximumConcurrentStreams
        maximumStreamResets = configuration.maximumStreamResets
        streamResetWindow = configuration.streamResetWindow
        gracefulCloseTimeout = configuration.drainTimeout
    }
}

/// Counts the open connections across the server's event loops, and what the guards did.
final class ConnectionCounter: Sendable {
    private let open = Atomic<Int>(0)
    let metrics: PlugMetrics

    init(metrics: PlugMetrics) { self.metrics = metrics }

    /// Takes a slot; false (and nothing taken) when `maximum` are already open.
    func admit(maximum: Int) -> Bool {
        let count = open.wrappingAdd(1, ordering: .relaxed).newValue
        guard count <= maximum else {
            open.wrappingSubtract(1, ordering: .relaxed)
            metrics.connectionRefused()
            return false
        }
        metrics.connectionsOpen.record(count)
        return true
    }

    func release() {
        let count = open.wrappingSubtract(1, ordering: .relaxed).newValue
        metrics.connectionsOpen.record(count)
    }

    var current: Int { open.load(ordering: .relaxed) }
}

/// Closes connections that hold the server without using it, and refuses those over the cap.
///
/// A connection is in one phase at a time, each with its own bound:
/// - TLS handshake: ``MPIPlugConfiguration/tlsHandshakeTimeout`` from the connection opening;
/// - idle (no request in progress): ``MPIPlugConfiguration/idleTimeout``;
/// - reading a head: ``MPIPlugConfiguration/headerReadTimeout`` from its first byte (answered 408);
/// - reading a body: the idle timeout between two reads;
/// - busy (the request is served): no bound here, the round's deadline and timeout apply.
///
/// On an HTTP/2 connection (``beginHTTP2()``) the phases count the streams: idle while no request is
/// in progress, reading a body while any stream's body is still coming, busy while every open
/// request is being served. The head bound covers the connection preface and its first request; after
/// that, frames between requests (pings, window updates, settings) are idle traffic, and a request
/// whose head trickles in is bounded by the idle timeout (its stream exists only once its head has
/// arrived whole). A timed-out HTTP/2 connection is closed without the 408, which is HTTP/1.1 bytes.
///
/// Runs on the connection's event loop only, like every channel handler.
final class ConnectionGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    enum Phase: Equatable {
        case handshaking, idle, readingHead, readingBody, busy
    }

    private let limits: ConnectionLimits
    private let counter: ConnectionCounter
    private(set) var phase: Phase
    private var started = false
    private var admitted = false
    /// Whether the connection has ended; reports that come after are ignored.
    private var closed = false
    /// Whether the connection speaks HTTP/2 (several requests at once, one per stream).
    private(set) var isMultiplexed = false
    /// Requests whose head arrived and whose response has not ended (HTTP/1.1 pipelining, HTTP/2 streams).
    private var responsesOwed = 0
    /// Requests whose head arrived and whose body has not ended.
    private var bodiesOpen = 0
    /// Request heads seen on the connection.
    private var requestsSeen = 0
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    private static let requestTimeoutResponse = ByteBuffer(
        string: "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    private static let tooManyConnectionsResponse = ByteBuffer(
        string: "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n")

    init(limits: ConnectionLimits, counter: ConnectionCounter) {
        self.limits = limits
        self.counter = counter
        phase = limits.usesTLS ? .handshaking : .idle
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { start(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimer()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        cancelTimer()
        if admitted {
            admitted = false
            counter.release()
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch phase {
        case .idle where isMultiplexed && requestsSeen > 0:
            // Frames between HTTP/2 requests; the idle timer keeps running.
            break
        case .idle:
            phase = .readingHead
            schedule(limits.headerReadTimeout, .headerRead)
        case .readingBody:
            schedule(limits.idleTimeout, .bodyRead)
        case .handshaking, .readingHead, .busy:
            break
        }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event, phase == .handshaking { becomeIdle() }
        // During a graceful shutdown a connection still in its handshake has no HTTP handler to
        // close it; closing here keeps the shutdown from waiting for the handshake timeout.
        if event is ChannelShouldQuiesceEvent, phase == .handshaking {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: What the request observers report

    /// The connection was configured for HTTP/2 (by its preface or by ALPN).
    func beginHTTP2() { isMultiplexed = true }

    func requestHeadReceived() {
        guard !closed else { return }
        responsesOwed += 1
        bodiesOpen += 1
        requestsSeen += 1
        // A new head always restarts the body timer, even while another request's body is read.
        phase = .readingBody
        schedule(limits.idleTimeout, .bodyRead)
    }

    func requestEnded() {
        guard !closed else { return }
        bodiesOpen = max(0, bodiesOpen - 1)
        settle()
    }

    func responseEnded() {
        guard !closed else { return }
        responsesOwed = max(0, responsesOwed - 1)
        settle()
    }

    /// The phase the counts call for: idle with nothing owed, reading while a body is still coming,
    /// busy while every request in progress is being served.
    private func settle() {
        if responsesOwed == 0 {
            if phase != .idle { becomeIdle() }
        } else if bodiesOpen > 0 {
            if phase != .readingBody {
                phase = .readingBody
                schedule(limits.idleTimeout, .bodyRead)
            }
        } else if phase != .busy {
            phase = .busy
            cancelTimer()
        }
    }

    // MARK: Timers

    /// Why a connection was closed by a timer; the label of its metric.
    enum Timeout: String {
        case tlsHandshake = "tls_handshake", idle, headerRead = "header_read", bodyRead = "body_read"
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        guard counter.admit(maximum: limits.maximumConnections) else {
            // Plain HTTP can be told why; under TLS the handshake has not happened, so just close.
            if limits.usesTLS {
                context.close(promise: nil)
            } else {
                Self.answerAndClose(context, Self.tooManyConnectionsResponse)
            }
            return
        }
        admitted = true
        switch phase {
        case .handshaking: schedule(limits.tlsHandshakeTimeout, .tlsHandshake)
        default: schedule(limits.idleTimeout, .idle)
        }
    }

    private func becomeIdle() {
        phase = .idle
        schedule(limits.idleTimeout, .idle)
    }

    private func schedule(_ delay: Duration, _ kind: Timeout) {
        cancelTimer()
        guard let context else { return }
        let nanoseconds = delay.components.seconds * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000
        let loop = context.eventLoop.assumeIsolated()
        timer = loop.scheduleTask(in: .nanoseconds(nanoseconds)) { [self] in fire(kind) }
    }

    /// Writes a whole HTTP response below the HTTP codec (raw bytes, encrypted by TLS if on), then closes.
    private static func answerAndClose(_ context: ChannelHandlerContext, _ response: ByteBuffer) {
        let channel = context.channel
        context.writeAndFlush(NIOAny(response)).whenComplete { _ in channel.close(promise: nil) }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
    }

    private func fire(_ kind: Timeout) {
        timer = nil
        guard let context else { return }
        counter.metrics.connectionTimedOut(kind)
        if kind == .headerRead, !isMultiplexed {
            Self.answerAndClose(context, Self.requestTimeoutResponse)
        } else {
            context.close(promise: nil)
        }
    }
}

/// Sits behind the HTTP codec (of the connection, or of one HTTP/2 stream) and tells the
/// connection's ``ConnectionGuard`` where each request is.
final class RequestProgressObserver: ChannelDuplexHandler, RemovableChannelHandler {
    // HummingbirdCore's names for NIOHTTPTypes' request and response parts (HTTPRequestPart and
    // HTTPResponsePart), so that MPIPlug needs no dependency of its own on swift-nio-extras.
    typealias InboundIn = HTTPUserEventHandler.InboundIn
    typealias InboundOut = HTTPUserEventHandler.InboundIn
    typealias OutboundIn = HTTPConnectionStateHandler.OutboundIn
    typealias OutboundOut = HTTPConnectionStateHandler.OutboundIn

    /// The guard of the stream's connection; nil on an HTTP/1.1 connection, whose guard is found in
    /// the same pipeline.
    private let streamGuard: NIOLoopBound<ConnectionGuard>?
    private var connectionGuard: ConnectionGuard?
    // One stream carries one request: what of it the guard was told, to settle when the stream closes.
    private var headSeen = false
    private var endSeen = false
    private var responseEndSeen = false

    /// An observer for an HTTP/1.1 connection.
    init() { streamGuard = nil }

    /// An observer for one HTTP/2 stream of the connection `connectionGuard` watches.
    init(stream connectionGuard: NIOLoopBound<ConnectionGuard>) { streamGuard = connectionGuard }

    func handlerAdded(context: ChannelHandlerContext) {
        // A stream runs on its connection's event loop, so the guard may be used from here.
        connectionGuard = streamGuard?.value ?? (try? context.pipeline.syncOperations.handler(type: ConnectionGuard.self))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            headSeen = true
            connectionGuard?.requestHeadReceived()
        case .body: break
        case .end:
            endSeen = true
            connectionGuard?.requestEnded()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            responseEndSeen = true
            connectionGuard?.responseEnded()
        }
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        // A stream reset (or cut short) before its request or response ended owes nothing any more;
        // without this a cancelled call would keep its connection "busy", out of every timeout.
        if streamGuard != nil, headSeen {
            if !endSeen { connectionGuard?.requestEnded() }
            if !responseEndSeen { connectionGuard?.responseEnded() }
            endSeen = true
            responseEndSeen = true
        }
        context.fireChannelInactive()
    }
}
