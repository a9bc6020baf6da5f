import HTTPTypes

/// The HTTP methods a path of the front door takes: what a request is checked against, what a 405
/// names in `Allow`, and what a CORS preflight lists. Each kind of path has its list here, once.
struct AllowedMethods: Sendable, Equatable {
    let methods: [HTTPRequest.Method]

    /// A Connect unary call.
    static let call = AllowedMethods(methods: [.post])
    /// A call of a method without side effects (``RouteDescriptor/hasNoSideEffects``): Connect's GET
    /// form too.
    static let callWithoutSideEffects = AllowedMethods(methods: [.post, .get])
    /// `/healthz` and static files.
    static let read = AllowedMethods(methods: [.get, .head])
    /// `/metrics`.
    static let getOnly = AllowedMethods(methods: [.get])

    func allows(_ method: HTTPRequest.Method) -> Bool { methods.contains(method) }

    /// As `Allow` and `Access-Control-Allow-Methods` list them: `POST, GET`.
    var header: String { methods.map(\.rawValue).joined(separator: ", ") }

    /// As a sentence names them: `POST or GET`.
    var phrase: String { methods.map(\.rawValue).joined(separator: " or ") }
}
