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

    init(_ configuration: MPIPlugConfiguration) {
        idleTimeout = configuration.idleTimeout
        headerReadTimeout = configuration.headerReadTimeout
        tlsHandshakeTimeout = configuration.tlsHandshakeTimeout
        maximumConnections = configuration.maximumConnections
        usesTLS = configuration.tls != nil
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

/// The HTTP/1.1 child channel with a ``ConnectionGuard`` in front of the HTTP codec (behind TLS when
/// TLS is on, so that it sees the handshake end and the decrypted bytes).
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let base: HTTP1Channel
    let limits: ConnectionLimits
    let counter: ConnectionCounter

    init(responder: @escaping HTTPChannelHandler.Responder, limits: ConnectionLimits, counter: ConnectionCounter) {
        // The observer reports request heads and response ends to the guard (found in the pipeline).
        base = HTTP1Channel(responder: responder, configuration: .init(additionalChannelHandlers: [RequestProgressObserver()]))
        self.limits = limits
        self.counter = counter
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(ConnectionGuard(limits: limits, counter: counter))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
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
    /// Requests whose head arrived and whose response has not ended (HTTP/1.1 pipelining).
    private var responsesOwed = 0
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
        cancelTimer()
        if admitted {
            admitted = false
            counter.release()
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch phase {
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
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: What the request observer reports

    func requestHeadReceived() {
        responsesOwed += 1
        phase = .readingBody
        schedule(limits.idleTimeout, .bodyRead)
    }

    func requestEnded() {
        phase = .busy
        cancelTimer()
    }

    func responseEnded() {
        responsesOwed = max(0, responsesOwed - 1)
        if responsesOwed == 0 { becomeIdle() }
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
        if kind == .headerRead {
            Self.answerAndClose(context, Self.requestTimeoutResponse)
        } else {
            context.close(promise: nil)
        }
    }
}

/// Sits behind the HTTP codec and tells the connection's ``ConnectionGuard`` where each request is.
final class RequestProgressObserver: ChannelDuplexHandler, RemovableChannelHandler {
    // HummingbirdCore's names for NIOHTTPTypes' request and response parts (HTTPRequestPart and
    // HTTPResponsePart), so that MPIPlug needs no dependency of its own on swift-nio-extras.
    typealias InboundIn = HTTPUserEventHandler.InboundIn
    typealias InboundOut = HTTPUserEventHandler.InboundIn
    typealias OutboundIn = HTTPConnectionStateHandler.OutboundIn
    typealias OutboundOut = HTTPConnectionStateHandler.OutboundIn

    private var connectionGuard: ConnectionGuard?

    func handlerAdded(context: ChannelHandlerContext) {
        connectionGuard = try? context.pipeline.syncOperations.handler(type: ConnectionGuard.self)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: connectionGuard?.requestHeadReceived()
        case .body: break
        case .end: connectionGuard?.requestEnded()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { connectionGuard?.responseEnded() }
        context.write(data, promise: promise)
    }
}
