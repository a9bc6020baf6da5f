import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SwiftProtobuf

/// Why a call to the service did not give an answer.
enum ClientError: Error, CustomStringConvertible {
    /// The service answered with a Connect error, e.g. `invalid_argument`.
    case service(code: String, message: String)
    /// No answer arrived: bad URL, connection refused, timeout.
    case transport(String)
    /// An answer arrived but is not what the protocol promises.
    case malformedAnswer(String)

    var description: String {
        switch self {
        case .service(let code, let message): "\(code): \(message)"
        case .transport(let problem): "unavailable: \(problem)"
        case .malformedAnswer(let problem): "internal: \(problem)"
        }
    }
}

/// A minimal Connect unary client over URLSession, with binary protobuf bodies.
///
/// ```swift
/// let client = ConnectClient(baseURL: url, service: "geopredict.v1.GeoPredictService")
/// let response: Geopredict_V1_PredictNextVisitsResponse = try await client.call("PredictNextVisits", request)
/// ```
struct ConnectClient: Sendable {
    let baseURL: URL
    let service: String
    var timeout: TimeInterval = 30

    /// POSTs `request` to `baseURL/service/method` as `application/proto` and decodes the answer.
    func call<Request: Message, Response: Message>(
        _ method: String, _ request: Request
    ) async throws(ClientError) -> Response {
        let endpoint = baseURL.appendingPathComponent(service).appendingPathComponent(method)
        let (body, http) = try await post(try serialize(request), to: endpoint)
        guard http.statusCode == 200 else { throw Self.serviceError(status: http.statusCode, body: body) }
        let contentType = http.value(forHTTPHeaderField: "Content-Type")?.lowercased() ?? ""
        guard contentType == "application/proto" || contentType.hasPrefix("application/proto;") else {
            throw .malformedAnswer("expected an application/proto answer, got \"\(contentType)\"")
        }
        do {
            return try Response(serializedBytes: body)
        } catch {
            throw .malformedAnswer("the answer is not a \(Response.protoMessageName): \(error)")
        }
    }

    private func serialize(_ request: some Message) throws(ClientError) -> Data {
        do {
            return try request.serializedBytes()
        } catch {
            throw .malformedAnswer("cannot encode the request: \(error)")
        }
    }

    private func post(_ body: Data, to endpoint: URL) async throws(ClientError) -> (Data, HTTPURLResponse) {
        var urlRequest = URLRequest(url: endpoint, timeoutInterval: timeout)
        urlRequest.httpMethod = "POST"
        urlRequest.httpBody = body
        urlRequest.setValue("application/proto", forHTTPHeaderField: "Content-Type")
        urlRequest.setValue("1", forHTTPHeaderField: "Connect-Protocol-Version")
        let data: Data, response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: urlRequest)
        } catch {
            throw .transport("cannot reach \(endpoint.absoluteString): \(error.localizedDescription)")
        }
        guard let http = response as? HTTPURLResponse else {
            throw .malformedAnswer("not an HTTP answer from \(endpoint.absoluteString)")
        }
        return (data, http)
    }

    /// The error a non-200 answer stands for: its Connect JSON body, or else what the Connect protocol
    /// says the HTTP status means (a proxy's error page, say).
    static func serviceError(status: Int, body: Data) -> ClientError {
        struct ErrorBody: Decodable {
            var code: String
            var message: String?
        }
        if let error = try? JSONDecoder().decode(ErrorBody.self, from: body), !error.code.isEmpty {
            return .service(code: error.code, message: error.message ?? "")
        }
        let code = switch status {
        case 400: "internal"
        case 401: "unauthenticated"
        case 403: "permission_denied"
        case 404: "unimplemented"
        case 429, 502, 503, 504: "unavailable"
        default: "unknown"
        }
        return .service(code: code, message: "HTTP \(status) with no Connect error body")
    }
}
