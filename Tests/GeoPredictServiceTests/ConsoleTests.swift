import Foundation
import GeoPredictProtos
@testable import GeoPredictService
import MPIPlug
import MPIPlugProtos
import Testing

/// The console's files as compiled into the binary: what the page loads is among them, and nothing
/// in them needs what the Content-Security-Policy forbids (inline script or style, other hosts).
struct ConsoleTests {
    private static func text(_ path: String) throws -> String {
        let file = try #require(GeoPredictConsole.files.first { $0.path == path })
        return String(decoding: file.body, as: UTF8.self)
    }

    @Test func thePageLoadsOnlyFilesThatAreServed() throws {
        let paths = Set(GeoPredictConsole.files.map(\.path))
        #expect(paths == ["/", "/console.js", "/console.css"])
        let page = try Self.text("/")
        #expect(page.contains(#"<script src="/console.js" defer></script>"#))
        #expect(page.contains(#"<link rel="stylesheet" href="/console.css">"#))
        #expect(GeoPredictConsole.files.first { $0.path == "/" }?.contentType == "text/html; charset=utf-8")
        #expect(GeoPredictConsole.files.first { $0.path == "/console.js" }?.contentType.hasPrefix("text/javascript") == true)
    }

    @Test func nothingNeedsWhatThePolicyForbids() throws {
        let page = try Self.text("/")
        // Every <script> has a src (inline script would be blocked), no style attribute or <style>,
        // no inline event handler, no other host.
        #expect(page.components(separatedBy: "<script").count - 1 == page.components(separatedBy: "<script src=").count - 1)
        #expect(!page.contains("style=") && !page.contains("<style"))
        #expect(page.range(of: #"\son[a-z]+="#, options: .regularExpression) == nil)
        for file in GeoPredictConsole.files {
            // The SVG namespace is a name, not a place anything is loaded from.
            let text = String(decoding: file.body, as: UTF8.self).replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "")
            #expect(!text.contains("https://") && !text.contains("http://"), "\(file.path) names another host")
            #expect(file.contentSecurityPolicy == StaticFile.sameOriginPolicy)
        }
        #expect(!(try Self.text("/console.js")).contains("eval("))
    }

    /// The page calls methods the service has, by the paths the routes serve.
    @Test func theScriptCallsRoutesThatExist() throws {
        let script = try Self.text("/console.js")
        let service = Geopredict_V1_GeoPredictService.predictNextVisits.service
        #expect(script.contains(#"const SERVICE = "/\#(service)/";"#))
        for method in [Geopredict_V1_GeoPredictService.predictNextVisits, Geopredict_V1_GeoPredictService.ingestEvents,
                       Geopredict_V1_GeoPredictService.train] {
            #expect(script.contains(#"call("\#(method.method)""#), "\(method)")
        }
        #expect(script.contains(#"callPath(SERVICE + "\#(Geopredict_V1_GeoPredictService.getTrainingStatus.method)""#))
        let cluster = Mpiplug_V1_ClusterService.getClusterStatus
        #expect(script.contains(#"const CLUSTER = "/\#(cluster.service)/";"#))
        #expect(script.contains(#"callPath(CLUSTER + "\#(cluster.method)""#))
    }

    /// The panels read the fields the API has, by their proto3 JSON names.
    @Test func thePanelsReadFieldsTheResponsesHave() throws {
        let script = try Self.text("/console.js")
        let cluster = Mpiplug_V1_GetClusterStatusResponse.with {
            $0.rankCount = 1
            $0.recent = .with { $0.requestLatency = .with { $0.p50Seconds = 1 } }
            $0.batchSizes = .with { $0.histogram = [1] }
            $0.ranks = [.with { $0.frontDoor = .with { $0.port = 1 }; $0.residentMemoryBytes = 1 }]
        }
        let training = Geopredict_V1_GetTrainingStatusResponse.with {
            $0.alsIterations = [.with { $0.model = .serving; $0.loss = 1 }]
            $0.plannedAlsIterations = 2
            $0.state = .running
        }
        let json = try cluster.jsonString() + training.jsonString()
        for name in ["rankCount", "requestLatency", "p50Seconds", "batchSizes", "histogram", "frontDoor", "residentMemoryBytes",
                     "alsIterations", "plannedAlsIterations", "MODEL_SERVING", "STATE_RUNNING"] {
            #expect(json.contains("\"\(name)\""), "\(name) is not a JSON name of the API")
            #expect(script.contains(name), "the script does not read \(name)")
        }
    }
}
