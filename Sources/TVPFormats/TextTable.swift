/// Rows under a header, columns padded to their widest cell, two spaces apart.
public func formatTable(header: [String], rows: [[String]], rightAligned: Set<Int> = []) -> String {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    return all.map { row in
        row.indices.map { column -> String in
            let padding = String(repeating: " ", count: widths[column] - row[column].count)
            if column == row.count - 1 && !rightAligned.contains(column) { return row[column] }
            return rightAligned.contains(column) ? padding + row[column] : row[column] + padding
        }.joined(separator: "  ")
    }.joined(separator: "\n")
}
