// The baseline for the front-door benchmark: the same Echo route on a bare Hummingbird server, with
// no MPI, no queue and no rounds. It decodes the binary EchoRequest and encodes the EchoResponse, so
// the only difference from MPIPlug is the framework itself.
//
//   bench-bare-echo PORT
import Foundation
import Hummingbird
import MPIPlugProtos

let port = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 8090
let router = Router()
router.post("/mpiplug.v1.DiagnosticsService/Echo") { request, context -> Response in
    let body = try await request.body.collect(upTo: 4 * 1024 * 1024)
    let echo = try Mpiplug_V1_EchoRequest(serializedBytes: Array(buffer: body))
    let answer = Mpiplug_V1_EchoResponse.with {
        $0.message = echo.message
        $0.rankCount = 1
        $0.checksum = echo.value
    }
    return Response(
        status: .ok,
        headers: [.contentType: "application/proto"],
        body: .init(byteBuffer: ByteBuffer(bytes: try answer.serializedBytes() as [UInt8]))
    )
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
