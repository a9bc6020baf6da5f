/// Where one field of a line lies: `start..<end` in the line's bytes. For a quoted CSV field the
/// range is the text between the quotes, and `hasEscapedQuotes` says whether `""` pairs in it still
/// need to become `"`.
struct FieldSpan {
    var start: Int
    var end: Int
    var hasEscapedQuotes: Bool
}

/// Splits one line into fields, into caller-provided storage (no allocation per line).
enum FieldSplitter {
    /// The outcome of splitting: how many fields the line has, or a broken quote.
    enum Outcome: Equatable {
        case fields(Int)
        case unterminatedQuote
    }

    /// Splits on `separator` with no quoting (TSV). Stores at most `spans.count` fields but counts all.
    static func splitPlain(
        _ line: UnsafeBufferPointer<UInt8>, separator: UInt8, into spans: UnsafeMutableBufferPointer<FieldSpan>
    ) -> Outcome {
        var count = 0
        var start = 0
        for index in 0..<line.count where line[index] == separator {
            if count < spans.count { spans[count] = FieldSpan(start: start, end: index, hasEscapedQuotes: false) }
            count += 1
            start = index + 1
        }
        if count < spans.count { spans[count] = FieldSpan(start: start, end: line.count, hasEscapedQuotes: false) }
        return .fields(count + 1)
    }

    /// Splits CSV (RFC 4180 quoting within one line: `"a, b"`, `"say ""hi"""`). Stores at most
    /// `spans.count` fields but counts all.
    static func splitCSV(
        _ line: UnsafeBufferPointer<UInt8>, separator: UInt8, into spans: UnsafeMutableBufferPointer<FieldSpan>
    ) -> Outcome {
        let quote = UInt8(ascii: "\"")
        var count = 0
        var index = 0
        while true {
            var span: FieldSpan
            // Spaces before an opening quote are allowed (`a, "b"`).
            var probe = index
            while probe < line.count, line[probe] == 0x20 { probe += 1 }
            if probe < line.count, line[probe] == quote {
                var cursor = probe + 1
                var escaped = false
                var closed = false
                while cursor < line.count {
                    if line[cursor] == quote {
                        if cursor + 1 < line.count, line[cursor + 1] == quote {
                            escaped = true
                            cursor += 2
                            continue
                        }
                        closed = true
                        break
                    }
                    cursor += 1
                }
                guard closed else { return .unterminatedQuote }
                span = FieldSpan(start: probe + 1, end: cursor, hasEscapedQuotes: escaped)
                cursor += 1
                while cursor < line.count, line[cursor] == 0x20 { cursor += 1 }
                guard cursor == line.count || line[cursor] == separator else { return .unterminatedQuote }
                index = cursor
            } else {
                var cursor = index
                while cursor < line.count, line[cursor] != separator { cursor += 1 }
                span = FieldSpan(start: index, end: cursor, hasEscapedQuotes: false)
                index = cursor
            }
            if count < spans.count { spans[count] = span }
            count += 1
            if index >= line.count { break }
            index += 1  // the separator
            if index == line.count {
                // A trailing separator ends with one more, empty field.
                if count < spans.count { spans[count] = FieldSpan(start: index, end: index, hasEscapedQuotes: false) }
                count += 1
                break
            }
        }
        return .fields(count)
    }

    /// The text of a field: validated UTF-8, `""` pairs unescaped; `nil` when not valid UTF-8.
    static func string(_ line: UnsafeBufferPointer<UInt8>, _ span: FieldSpan, trimming: Bool) -> String? {
        var bytes = UnsafeBufferPointer(rebasing: line[span.start..<span.end])
        if trimming { bytes = TextScanning.trimmed(bytes) }
        guard span.hasEscapedQuotes else { return TextScanning.string(bytes) }
        var unescaped = [UInt8]()
        unescaped.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            unescaped.append(bytes[index])
            index += bytes[index] == UInt8(ascii: "\"") && index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "\"") ? 2 : 1
        }
        return unescaped.withUnsafeBufferPointer { TextScanning.string($0) }
    }
}
