@testable import MPIPlug
import Testing

struct ProtocolTests {
    @Test(arguments: [
        (ConnectCode.invalidArgument, 400), (.unauthenticated, 401), (.permissionDenied, 403), (.notFound, 404),
        (.alreadyExists, 409), (.resourceExhausted, 429), (.canceled, 499), (.internal, 500), (.unimplemented, 501),
        (.unavailable, 503), (.deadlineExceeded, 504), (.failedPrecondition, 400), (.dataLoss, 500),
    ])
    func connectCodesMapToTheirHTTPStatus(code: ConnectCode, status: Int) {
        #expect(code.httpStatus == status)
    }

    @Test func errorBodyIsConnectJSONWithEscapedMessage() {
        let error = ConnectError(.invalidArgument, "bad \"id\"\n\u{1}", httpStatus: 413)
        #expect(error.jsonBody == #"{"code":"invalid_argument","message":"bad \"id\"\n\u0001"}"#)
        #expect(error.httpStatus == 413)
        #expect(ConnectError.internalError.httpStatus == 500)
    }

    @Test func contentTypesSelectTheBodyFormat() {
        #expect(BodyFormat(contentType: "application/proto") == .binary)
        #expect(BodyFormat(contentType: "application/json; charset=utf-8") == .json)
        #expect(BodyFormat(contentType: "Application/JSON") == .json)
        #expect(BodyFormat(contentType: "text/plain") == nil)
        #expect(BodyFormat(contentType: "") == nil)
        #expect(BodyFormat(contentType: " \tapplication/x-protobuf ; charset=binary") == .binary)
        #expect(BodyFormat(contentType: "application/protobuf") == .binary)
        #expect(BodyFormat(contentType: "application/jsonx") == nil)
        #expect(BodyFormat(contentType: "application/ json") == nil)
        #expect(BodyFormat(contentType: ";application/json") == nil)
    }

    @Test func connectTimeoutHeaderIsParsedStrictly() throws {
        #expect(try FrontDoor.deadline(nil) == nil)
        let deadline = try #require(try FrontDoor.deadline("1500"))
        let remaining = deadline - .now
        #expect(remaining > .milliseconds(1_000) && remaining <= .milliseconds(1_500))
        for bad in ["", "-5", "1.5", "12345678901", "ten"] {
            #expect(throws: ConnectError.self) { _ = try FrontDoor.deadline(bad) }
        }
    }

    @Test func bearerTokensCompareExactly() {
        let token = BearerToken("s3cret-token")
        #expect(token.matches(authorizationHeader: "Bearer s3cret-token"))
        #expect(token.matches(authorizationHeader: "bearer s3cret-token"))
        #expect(!token.matches(authorizationHeader: "Bearer s3cret-tokeN"))
        #expect(!token.matches(authorizationHeader: "Bearer s3cret-token2"))
        #expect(!token.matches(authorizationHeader: "Bearer s3cret"))
        #expect(!token.matches(authorizationHeader: "Basic s3cret-token"))
        #expect(!token.matches(authorizationHeader: "Bearer "))
    }

    @Test func routeDescriptorsMakeConnectPaths() {
        let descriptor = RouteDescriptor(service: "geopredict.v1.GeoPredictService", method: "PredictNextVisits")
        #expect(descriptor.path == "/geopredict.v1.GeoPredictService/PredictNextVisits")
    }
}
