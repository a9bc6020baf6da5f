import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MPIPlug
import SwiftProtobuf

/// A Connect client over Hummingbird's test client: calls a route with a message and decodes the
/// answer, so that tests read like the API they exercise.
public struct MPIPlugTestClient: Sendable {
    /// The underlying HTTP test client, for requests the typed calls do not cover (bad bodies,
    /// headers, `/healthz`, `/metrics`).
    public let http: any TestClientProtocol

    public init(_ http: any TestClientProtocol) {
        self.http = http
    }

    /// Calls `route` with `request` encoded as `format` and returns the response, or the Connect error
    /// the service answered with.
    ///
    /// - Parameter headers: extra headers (a bearer token, `Connect-Timeout-Ms`, ...).
    public func call<Response: Message>(
        _ route: RouteDescriptor, _ request: some Message, returning response: Response.Type,
        format: BodyFormat = .binary, headers: HTTPFields = [:]
    ) async throws -> Result<Response, ConnectError> {
        let body: [UInt8] = format == .binary ? try request.serializedBytes() : try request.jsonUTF8Bytes()
        var fields = headers
        fields[.contentType] = format.contentType
        let answer = try await http.executeRequest(uri: route.path, method: .post, headers: fields, body: ByteBuffer(bytes: body))
        guard answer.status == .ok else { return .failure(try Self.connectError(answer)) }
        let bytes = Array(buffer: answer.body)
        switch format {
        case .binary: return .success(try Response(serializedBytes: bytes))
        case .json: return .success(try Response(jsonUTF8Bytes: bytes))
        }
    }

    /// Like ``call(_:_:returning:format:headers:)``, but throws the Connect error.
    public func callSucceeding<Response: Message>(
        _ route: RouteDescriptor, _ request: some Message, returning response: Response.Type,
        format: BodyFormat = .binary, headers: HTTPFields = [:]
    ) async throws -> Response {
        try await call(route, request, returning: response, format: format, headers: headers).get()
    }

    /// Reads a Connect error body: `{"code": "...", "message": "...", "details": [{"type", "value"}]}`
    /// (`debug` is left out: it only renders `value`).
    static func connectError(_ answer: TestResponse) throws -> ConnectError {
        struct Detail: Decodable {
            var type: String
            var value: String
        }
        struct Body: Decodable {
            var code: String
            var message: String?
            var details: [Detail]?
        }
        guard let body = try? JSONDecoder().decode(Body.self, from: Data(answer.body.readableBytesView)),
              let code = ConnectCode(rawValue: body.code)
        else {
            throw MPIPlugTestClientError.notAConnectError(status: Int(answer.status.code), body: String(buffer: answer.body))
        }
        let status = Int(answer.status.code)
        var details = [ConnectErrorDetail]()
        for detail in body.details ?? [] {
            guard let value = ConnectErrorDetail.decodeBase64(detail.value) else {
                throw MPIPlugTestClientError.notAConnectError(status: status, body: String(buffer: answer.body))
            }
            details.append(ConnectErrorDetail(typeName: detail.type, value: value))
        }
        return ConnectError(code, body.message ?? "", httpStatus: status == code.httpStatus ? nil : status, details: details)
    }
}

/// An answer that is neither a success nor a Connect error.
public enum MPIPlugTestClientError: Error, CustomStringConvertible {
    case notAConnectError(status: Int, body: String)

    public var description: String {
        switch self {
        case let .notAConnectError(status, body): return "HTTP \(status) without a Connect error body: \(body.prefix(200))"
        }
    }
}
