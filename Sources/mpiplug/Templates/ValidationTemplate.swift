extension Templates {
    static func validation(_ context: TemplateContext) -> TemplateFile {
        let n = context.names
        return TemplateFile(path: "Sources/\(n.module)/Requests+Validation.swift", contents: #"""
            import MPIPlug

            // Input checks run on the front door (rank 0) before a request travels to any other rank: a
            // thrown error is answered with 400 at once, and the request never leaves the door.

            extension \#(n.requestType): ValidatableRequest {
                /// The most values one request may carry.
                public static let maximumValueCount = 1_000_000
                /// The range every value must lie in: a million of them cannot overflow an `Int64` sum.
                public static let valueRange: ClosedRange<Int64> = -(1 << 40)...(1 << 40)

                /// At most ``maximumValueCount`` values, each in ``valueRange``.
                public func validate() throws(ConnectError) {
                    guard values.count <= Self.maximumValueCount else {
                        throw .invalidArgument(field: "values", "at most \(Self.maximumValueCount) of them")
                    }
                    if let value = values.first(where: { !Self.valueRange.contains($0) }) {
                        throw .invalidArgument(field: "values", "\(value) is outside ±2^40")
                    }
                }
            }

            extension \#(n.incrementRequestType): ValidatableRequest {
                /// The longest counter name, in bytes of UTF-8.
                public static let maximumNameBytes = 256

                /// A name of 1 to ``maximumNameBytes`` bytes: the owner is decided on the door from it,
                /// so it must be there before the request travels.
                public func validate() throws(ConnectError) {
                    guard !name.isEmpty else { throw .invalidArgument(field: "name", "required") }
                    guard name.utf8.count <= Self.maximumNameBytes else {
                        throw .invalidArgument(field: "name", "at most \(Self.maximumNameBytes) bytes of UTF-8")
                    }
                }
            }

            """#)
    }
}
