import Foundation
import SwiftProtobufPluginLibrary

/// `protoc-gen-mpiplug`: a protoc plugin that turns each `service` of a `.proto` file into an MPIPlug
/// route table, so routes are declared in exactly one place — the proto.
///
/// For `service GeoPredictService` in package `geopredict.v1` it writes
/// `<file>.mpiplug.swift` with
/// - `protocol Geopredict_V1_GeoPredictServiceHandler`: one method per RPC: collective (every rank
///   runs it on the whole batch of a round) or, with `option (mpiplug.v1.owner_key) = "user_id"`,
///   keyed (only the owner of each request runs it; `"events[].user_id"` splits a request by owner
///   and adds a merge method);
/// - `enum Geopredict_V1_GeoPredictService`: the service name, one `RouteDescriptor` per method and
///   `routes(_:)`, which binds a handler to the paths `/geopredict.v1.GeoPredictService/<Method>`.
///
/// Options (`--mpiplug_opt=`): `MessagesModule=NAME` imports the module that holds the swift-protobuf
/// messages; `ImportMPIPlug=false` when generating into MPIPlug itself; `Visibility=Public|Internal`.
@main
struct MPIPlugGenerator: CodeGenerator {
    var supportedFeatures: [Google_Protobuf_Compiler_CodeGeneratorResponse.Feature] { [.proto3Optional] }
    var version: String? { "1.0.0" }

    func generate(
        files: [FileDescriptor],
        parameter: any CodeGeneratorParameter,
        protoCompilerContext: any ProtoCompilerContext,
        generatorOutputs: any GeneratorOutputs
    ) throws {
        let options = try GeneratorOptions(parameter)
        for file in files where !file.services.isEmpty {
            let source = try RouteFileWriter(file: file, options: options).render()
            let baseName = file.name.hasSuffix(".proto") ? String(file.name.dropLast(6)) : file.name
            try generatorOutputs.add(fileName: "\(baseName).mpiplug.swift", contents: source)
        }
    }
}

/// The plugin's options, from `--mpiplug_opt=Key=Value,...`.
struct GeneratorOptions {
    var messagesModule: String?
    var importMPIPlug = true
    var visibility = "public"

    init(_ parameter: any CodeGeneratorParameter) throws {
        for (key, value) in parameter.parsedPairs {
            switch key {
            case "MessagesModule": messagesModule = value.isEmpty ? nil : value
            case "ImportMPIPlug": importMPIPlug = value.lowercased() != "false"
            case "Visibility":
                switch value.lowercased() {
                case "public": visibility = "public"
                case "internal": visibility = "internal"
                default: throw GeneratorError.invalidOption("Visibility must be Public or Internal, not \(value)")
                }
            default: throw GeneratorError.invalidOption("unknown option \(key)")
            }
        }
    }
}

enum GeneratorError: Error, CustomStringConvertible {
    case invalidOption(String)
    case streamingMethod(String)
    case invalidOwnerKey(String, String, String)

    var description: String {
        switch self {
        case .invalidOption(let message): return "protoc-gen-mpiplug: \(message)"
        case .streamingMethod(let method):
            return "protoc-gen-mpiplug: \(method) streams; MPIPlug serves Connect unary methods only"
        case .invalidOwnerKey(let method, let key, let reason):
            return "protoc-gen-mpiplug: \(method): (mpiplug.v1.owner_key) = \"\(key)\": \(reason)"
        }
    }
}
