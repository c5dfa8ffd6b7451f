import Foundation
import TVPPipeline
import XCTest

/// The shape checks of a paper-table run folder beyond `results.csv` (PaperSmokeTests): one table
/// per corruption with the clean table's rows and columns, the cost table of the prompts the point
/// trained, a sweep's summary with a row per point, and a printed verdict for every claim.
enum PaperTableChecks {
    /// A CSV file's rows (RFC 4180, as the run folder's tables are written: a field with a comma or
    /// a quote is quoted, quotes doubled; rows end in CRLF).
    static func rows(_ path: String, file: StaticString = #filePath, line: UInt = #line) -> [[String]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            XCTFail("\(path) is missing", file: file, line: line)
            return []
        }
        return text.split(separator: "\r\n").map { record in
            var fields: [String] = [], field = "", quoted = false, justClosed = false
            for c in record {
                defer { justClosed = quoted == false && c == "\"" }
                if quoted {
                    if c == "\"" { quoted = false } else { field.append(c) }
                } else if c == "\"" {
                    if justClosed { field.append(c) }   // `""` inside a quoted field is one quote
                    quoted = true
                } else if c == "," {
                    fields.append(field)
                    field = ""
                } else {
                    field.append(c)
                }
            }
            return fields + [field]
        }
    }

    /// `results-CORRUPTION.csv` for each of the point's corruptions, shaped as `clean` (the rows of
    /// results.csv) with a number in every cell; `cost.csv` with a complete row per trained prompt.
    static func checkPoint(_ spec: PipelineSpec, folder: String, clean: [[String]], file: StaticString = #filePath, line: UInt = #line) {
        for corruption in spec.evaluate.corruptions {
            let table = rows(folder + "/results-\(corruption.label).csv", file: file, line: line)
            XCTAssertEqual(table.first, clean.first, "\(folder): results-\(corruption.label).csv header", file: file, line: line)
            XCTAssertEqual(table.map { $0.first ?? "" }, clean.map { $0.first ?? "" }, "\(folder): results-\(corruption.label).csv rows",
                           file: file, line: line)
            for row in table.dropFirst() {
                XCTAssertTrue(row.count == clean.first?.count && row.dropFirst(2).allSatisfy { Double($0) != nil },
                              "\(folder): results-\(corruption.label).csv row \(row)", file: file, line: line)
            }
        }
        let trains = spec.evaluate.protocols.contains { $0.variant != nil }
        let costPath = folder + "/cost.csv"
        guard trains else {
            XCTAssertFalse(FileManager.default.fileExists(atPath: costPath), "\(folder): a cost table without trained prompts", file: file, line: line)
            return
        }
        let cost = rows(costPath, file: file, line: line)
        XCTAssertEqual(cost.first, CostTable.header, "\(folder): cost.csv header", file: file, line: line)
        XCTAssertFalse(cost.dropFirst().isEmpty, "\(folder): cost.csv lists no trained prompt", file: file, line: line)
        let variants = Set(spec.evaluate.protocols.compactMap { $0.variant?.rawValue.uppercased() })
        for row in cost.dropFirst() {
            // task, prompt, prompt values, connector values, ratio, training seconds, peak RSS: all known.
            XCTAssertTrue(row.count == CostTable.header.count && variants.contains(row[1]) && Int(row[2]).map { $0 > 0 } == true
                          && Int(row[3]).map { $0 > 0 } == true && row.dropFirst(4).allSatisfy { Double($0) != nil },
                          "\(folder): cost.csv row \(row)", file: file, line: line)
        }
    }

    /// A sweep's `summary.csv`: the point label, a column per swept key (its value), then per task
    /// and protocol the surrogate's and every shared target's value, the targets' mean with its interval's bounds and n (all
    /// numbers), then the claims together (`hold (N)`, `inconclusive (k of N)`, `FAIL (k of N)`);
    /// one row per point, in order.
    static func checkSummary(_ loaded: LoadedPipeline, folder: String, file: StaticString = #filePath, line: UInt = #line) {
        let spec = loaded.points[0].spec
        let table = rows(folder + "/summary.csv", file: file, line: line)
        var keys: [String] = []
        for assignment in loaded.points.flatMap(\.assignments) where !keys.contains(assignment.key.joined(separator: ".")) {
            keys.append(assignment.key.joined(separator: "."))
        }
        let targets = spec.targets.filter { name in loaded.points.allSatisfy { $0.spec.targets.contains(name) } }
        let header = ["point"] + keys + spec.tasks.flatMap { task in spec.evaluate.protocols.flatMap { evaluation -> [String] in
            let prefix = "\(task.name)/\(evaluation.rawValue)"
            return ["\(prefix)/surrogate"] + targets.map { "\(prefix)/\($0)" }
                + (spec.targets.isEmpty ? [] : ["targets", "targets/low", "targets/high"].map { "\(prefix)/\($0)" })
                + ["\(prefix)/n"]
        } } + ["claims"]
        XCTAssertEqual(table.first, header, "\(folder): summary.csv header", file: file, line: line)
        XCTAssertEqual(table.dropFirst().map { $0.first ?? "" }, loaded.points.map(\.label), "\(folder): summary.csv rows", file: file, line: line)
        let verdict = #"^(hold \(\d+\)|(inconclusive|FAIL) \(\d+ of \d+\))$"#
        for row in table.dropFirst() {
            XCTAssertTrue(row.count == header.count && (row.last ?? "").range(of: verdict, options: .regularExpression) != nil
                          && row.dropFirst().prefix(keys.count).allSatisfy { !$0.isEmpty }
                          && row.dropFirst(1 + keys.count).dropLast().allSatisfy { Double($0) != nil }, "\(folder): summary.csv row \(row)",
                          file: file, line: line)
        }
    }

    /// The console output names every claim of every point with its verdict.
    static func checkPrintedVerdicts(_ loaded: LoadedPipeline, output: String, file: StaticString = #filePath, line: UInt = #line) {
        let printed = output.split(separator: "\n").filter { line in ["holds", "fails", "inconclusive"].contains { line.hasPrefix("claim \($0): ") } }
        XCTAssertEqual(printed.count, loaded.points.reduce(0) { $0 + $1.spec.claims.count },
                       "\(loaded.path): the output does not print a verdict for every claim\n\(output)", file: file, line: line)
    }
}
