import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP2
import NIOHTTPTypesHTTP2
import NIOTLS

/// A front-door connection: HTTP/1.1 or HTTP/2 on the same port, behind a ``ConnectionGuard``.
///
/// Which one a connection speaks is decided when it opens: by ALPN under TLS (`h2` or `http/1.1`),
/// and in plain text by its first bytes — an HTTP/2 client with prior knowledge starts with the
/// connection preface (RFC 9113 §3.4), anything else is HTTP/1.1. So one URL serves every client.
///
/// Every request, whichever the version, goes through Hummingbird's one request loop
/// (`HTTP1Channel.handle`, which reads a stream of request parts; an HTTP/2 stream is such a stream
/// carrying one request) and so through the same responder: routes, auth, admission control, CORS,
/// compression and errors have one code path.
struct GuardedHTTPChannel: ServerChildChannel {
    typealias HTTP2Connection = NIOHTTP2Handler.AsyncStreamMultiplexer<HTTP1Channel.Value>
    typealias Negotiated = NIONegotiatedHTTPVersion<HTTP1Channel.Value, HTTP2Connection>

    struct Value: ServerChildChannelValue {
        /// The connection once its version is known (fails if it closes first).
        let negotiated: EventLoopFuture<Negotiated>
        let channel: any Channel
    }

    let http1: HTTP1Channel
    let limits: ConnectionLimits
    let counter: ConnectionCounter

    init(responder: @escaping HTTPChannelHandler.Responder, limits: ConnectionLimits, counter: ConnectionCounter) {
        // The observer reports request heads and response ends to the guard (found in the pipeline).
        http1 = HTTP1Channel(responder: responder, configuration: .init(additionalChannelHandlers: [RequestProgressObserver()]))
        self.limits = limits
        self.counter = counter
    }

    /// The ALPN protocols a TLS front door offers, best first.
    static let applicationProtocols = ["h2", "http/1.1"]

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let connectionGuard = ConnectionGuard(limits: limits, counter: counter)
            try channel.pipeline.syncOperations.addHandler(connectionGuard)
            let negotiated: EventLoopFuture<Negotiated>
            if limits.usesTLS {
                let negotiation = NIOTypedApplicationProtocolNegotiationHandler<Negotiated> { result, channel in
                    switch result {
                    case .negotiated("h2"):
                        return configure(channel, http2: true, connectionGuard: connectionGuard, logger: logger)
                    case .negotiated("http/1.1"), .fallback:
                        return configure(channel, http2: false, connectionGuard: connectionGuard, logger: logger)
                    case .negotiated:
                        // Only the two offered protocols can be negotiated; anything else is a broken peer.
                        return channel.close().flatMapThrowing { _ -> Negotiated in throw NIOHTTP2Errors.invalidALPNToken() }
                    }
                }
                try channel.pipeline.syncOperations.addHandler(negotiation)
                negotiated = negotiation.protocolNegotiationResult
            } else {
                let detector = HTTP2PrefaceDetector<Negotiated>(eventLoop: channel.eventLoop) { isHTTP2, channel in
                    configure(channel, http2: isHTTP2, connectionGuard: connectionGuard, logger: logger)
                }
                try channel.pipeline.syncOperations.addHandler(detector)
                negotiated = detector.result
            }
            return Value(negotiated: negotiated, channel: channel)
        }
    }

    /// Adds the chosen version's handlers behind the guard (on the channel's event loop).
    private func configure(
        _ channel: any Channel, http2: Bool, connectionGuard: ConnectionGuard, logger: Logger
    ) -> EventLoopFuture<Negotiated> {
        guard http2 else { return http1.setup(channel: channel, logger: logger).map { .http1_1($0) } }
        return channel.eventLoop.makeCompletedFuture { () throws -> Negotiated in
            connectionGuard.beginHTTP2()
            let streamGuard = NIOLoopBound(connectionGuard, eventLoop: channel.eventLoop)
            let connection: HTTP2Connection = try channel.pipeline.syncOperations.configureAsyncHTTP2Pipeline(
                mode: .server,
                // Idle connections are the guard's to close; this handler's part is the graceful
                // shutdown (GOAWAY, then close once the open streams are done, at most this long).
                connectionManagerConfiguration: .init(
                    maxIdleTime: nil, maxAge: nil, maxGraceTime: TimeAmount(limits.gracefulCloseTimeout), keepalive: nil),
                http2HandlerConfiguration: Self.http2Configuration(limits)
            ) { stream in
                stream.eventLoop.makeCompletedFuture {
                    // The same request parts as HTTP/1.1's codec gives, so the same request loop reads them.
                    try stream.pipeline.syncOperations.addHandler(HTTP2FramePayloadToHTTPServerCodec())
                    try stream.pipeline.syncOperations.addHandler(RequestProgressObserver(stream: streamGuard))
                    return try HTTP1Channel.Value(wrappingChannelSynchronously: stream)
                }
            }
            try channel.pipeline.syncOperations.addHandler(HTTP2ConnectionErrorHandler(metrics: counter.metrics, logger: logger))
            return .http2(connection)
        }
    }

    /// swift-nio-http2's defaults with the front door's limits: the stream cap (advertised in the
    /// first SETTINGS frame and enforced once the client acknowledges it) and the reset rate.
    static func http2Configuration(_ limits: ConnectionLimits) -> NIOHTTP2Handler.Configuration {
        var configuration = NIOHTTP2Handler.Configuration()
        var settings = nioDefaultSettings.filter { $0.parameter != .maxConcurrentStreams }
        settings.append(HTTP2Setting(parameter: .maxConcurrentStreams, value: limits.maximumConcurrentStreams))
        configuration.connection.initialSettings = settings
        configuration.stream.streamResetFrameRateLimit.maximumCount = limits.maximumStreamResets
        configuration.stream.streamResetFrameRateLimit.windowLength = TimeAmount(limits.streamResetWindow)
        return configuration
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.negotiated.get() {
            case .http1_1(let connection):
                await http1.handle(value: connection, logger: logger)
            case .http2(let connection):
                let http1 = http1
                try await withThrowingDiscardingTaskGroup { group in
                    for try await stream in connection.inbound {
                        group.addTask { await http1.handle(value: stream, logger: logger) }
                    }
                }
            }
        } catch {
            logger.debug("connection ended", metadata: ["error": "\(error)"])
        }
    }
}

/// Tells an HTTP/2 client with prior knowledge from an HTTP/1.1 client by the first bytes of a
/// plain-text connection, has the pipeline configured for the one it found, then passes the bytes on
/// and leaves the pipeline.
///
/// No HTTP/1.1 request starts with `PRI * HTTP/2.0`, so at most the preface's 24 bytes are waited for
/// (usually 2: `PO` of `POST` already differs); the guard's header-read timeout bounds the wait.
final class HTTP2PrefaceDetector<Output: Sendable>: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    /// Configures the channel for HTTP/2 (`true`) or HTTP/1.1; runs on the channel's event loop.
    typealias Configurator = (_ isHTTP2: Bool, _ channel: any Channel) -> EventLoopFuture<Output>

    /// The HTTP/2 connection preface (RFC 9113 §3.4).
    static var preface: [UInt8] { Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) }

    private enum State { case waiting, configuring, done }

    private let configure: Configurator
    private let promise: EventLoopPromise<Output>
    private var state = State.waiting
    /// What arrived before the decision and while the pipeline was being configured.
    private var buffered: [NIOAny] = []
    private var head: [UInt8] = []

    /// The configured connection.
    var result: EventLoopFuture<Output> { promise.futureResult }

    init(eventLoop: any EventLoop, configure: @escaping Configurator) {
        self.configure = configure
        promise = eventLoop.makePromise()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard state != .done else {
            context.fireChannelRead(data)
            return
        }
        buffered.append(data)
        guard state == .waiting else { return }
        let bytes = unwrapInboundIn(data)
        head.append(contentsOf: bytes.readableBytesView.prefix(Self.preface.count - head.count))
        let preface = Self.preface
        if !head.elementsEqual(preface.prefix(head.count)) {
            decide(context, isHTTP2: false)
        } else if head.count == preface.count {
            decide(context, isHTTP2: true)
        }
    }

    private func decide(_ context: ChannelHandlerContext, isHTTP2: Bool) {
        state = .configuring
        configure(isHTTP2, context.channel).hop(to: context.eventLoop).assumeIsolated().whenComplete { [self] outcome in
            switch outcome {
            case .success(let value):
                state = .done
                promise.succeed(value)
                // The handlers just added behind this one see the bytes as if they had come first.
                let pending = buffered
                buffered = []
                for data in pending { context.fireChannelRead(data) }
                context.fireChannelReadComplete()
                context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            case .failure(let error):
                state = .done
                promise.fail(error)
                context.close(promise: nil)
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // Held back with the bytes until the pipeline is configured.
        if state == .done { context.fireChannelReadComplete() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if state != .done {
            state = .done
            promise.fail(ChannelError.inputClosed)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if state == .waiting {
            state = .done
            promise.fail(ChannelError.eof)
        }
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A server shutting down gracefully closes a connection that has not said a byte: no HTTP
        // handler is there yet to do it, and the shutdown would wait for the idle timeout.
        if event is ChannelShouldQuiesceEvent, state == .waiting {
            context.close(promise: nil)
            return
        }
        // A client that closed its side before its first request will send none: without an HTTP
        // handler to see that, the connection would hold its slot until the idle timeout.
        if let event = event as? ChannelEvent, event == .inputClosed, state == .waiting {
            state = .done
            promise.fail(ChannelError.inputClosed)
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// Last in an HTTP/2 connection's pipeline: counts the connections that swift-nio-http2 ended for
/// breaking a limit (`mpiplug_http2_connections_closed_total{reason}`) and closes them, since the
/// HTTP/2 handler sends its GOAWAY but leaves the socket open; and closes a connection whose client
/// closed its side (the server allows half-closure for HTTP/1.1; HTTP/2 has no use for it, and the
/// HTTP/2 handler would leave the connection open until the idle timeout).
final class HTTP2ConnectionErrorHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame

    private let metrics: PlugMetrics
    private let logger: Logger

    init(metrics: PlugMetrics, logger: Logger) {
        self.metrics = metrics
        self.logger = logger
    }

    /// Why a connection was closed, for the metric's label; nil for errors that concern one stream
    /// (answered with RST_STREAM by the HTTP/2 handler, the connection goes on).
    static func reason(_ error: any Error) -> PlugMetrics.HTTP2CloseReason? {
        switch error {
        case is NIOHTTP2Errors.MaxStreamsViolation: return .streamLimit
        case is NIOHTTP2Errors.ExcessiveRSTFrames: return .rapidReset
        case is NIOHTTP2Errors.ExcessiveStreamErrors, is NIOHTTP2Errors.ExcessiveNumberOfGlitches: return .streamErrors
        case is NIOHTTP2Errors.ExcessiveControlFrames, is NIOHTTP2Errors.ExcessiveEmptyDataFrames,
             is NIOHTTP2Errors.ExcessiveContinuationFrames, is NIOHTTP2Errors.ExcessivelyLargeHeaderBlock,
             is NIOHTTP2Errors.ExcessiveOutboundFrameBuffering:
            return .frameFlood
        default: return nil
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let reason = Self.reason(error) else {
            logger.debug("HTTP/2 stream error", metadata: ["error": "\(error)"])
            return
        }
        metrics.http2ConnectionClosed(reason)
        logger.info("closing an HTTP/2 connection that broke a limit", metadata: ["reason": "\(reason.rawValue)"])
        context.close(promise: nil)
    }
}
