import Foundation
import TVPEngine

/// Results across training seeds (`seeds: N`, or any sweep over `train.seed`): the points that
/// differ only in their seed form a group, and each accuracy and each paired difference of the
/// group is reported as mean ± sample sd over the seeds with a 95 % Student-t interval of the mean.
/// The interval speaks of the seed-to-seed spread (how much another training would move the number);
/// each seed's own interval over test items is in its point's tables.
public struct SeedSummary {
    let header = ["group", "task", "model", "measure", "mean ± sd (points)", "95% CI over seeds", "seeds", "per seed"]
    let rows: [[String]]

    /// nil unless some point sets `train.seed` by the sweep.
    init?(points: [(point: PipelinePoint, aggregate: JSONValue?)], digits: Int) {
        let seedKey = ["train", "seed"]
        guard points.contains(where: { $0.point.assignments.contains { $0.key == seedKey } }) else { return nil }
        var groups: [(label: String, aggregates: [JSONValue])] = []
        for entry in points {
            guard let aggregate = entry.aggregate else { continue }
            let label = entry.point.assignments.filter { $0.key != seedKey }.label
            if let index = groups.firstIndex(where: { $0.label == label }) { groups[index].aggregates.append(aggregate) }
            else { groups.append((label, [aggregate])) }
        }
        var rows: [[String]] = []
        for group in groups {
            // (task, model, measure) → one value per seed, in first-seen order.
            var order: [[String]] = [], values: [[String]: [Double]] = [:]
            func add(_ key: [String], _ value: Double?) {
                guard let value else { return }
                if values[key] == nil { order.append(key) }
                values[key, default: []].append(value)
            }
            for aggregate in group.aggregates {
                for result in aggregate["results"]?.arrayValue ?? [] where result["corruption"] == .null {
                    add([result["task"]?.stringValue ?? "", result["model"]?.stringValue ?? "", result["protocol"]?.stringValue ?? ""],
                        result["metrics"]?["accuracy"]?.doubleValue)
                }
                for mean in aggregate["means"]?.arrayValue ?? [] where mean["corruption"] == .null {
                    add([mean["task"]?.stringValue ?? "", "mean (\(mean["group"]?.stringValue ?? ""))", mean["protocol"]?.stringValue ?? ""],
                        mean["accuracy"]?.doubleValue)
                }
                for comparison in aggregate["comparisons"]?.arrayValue ?? [] where comparison["corruption"] == .null {
                    let measure = "\(comparison["left"]?.stringValue ?? "") − \(comparison["right"]?.stringValue ?? "")"
                    add([comparison["task"]?.stringValue ?? "", comparison["model"]?.stringValue ?? "", measure], comparison["difference"]?.doubleValue)
                }
            }
            for key in order {
                let points = values[key]!.map { $0 * 100 }
                let (mean, sd, half) = SeedSummary.meanSDHalfWidth(points)
                let f = "%.\(digits)f"
                rows.append([group.label.isEmpty ? "all" : group.label, key[0], key[1], key[2],
                             String(format: "\(f) ± \(f)", mean, sd),
                             half.map { String(format: "[\(f), \(f)]", mean - $0, mean + $0) } ?? "–",
                             String(points.count), points.map { String(format: f, $0) }.joined(separator: " ")])
            }
        }
        self.rows = rows
    }

    /// The mean, the sample sd, and the half-width of the two-sided 95 % t interval of the mean
    /// (nil for a single value).
    public static func meanSDHalfWidth(_ values: [Double]) -> (mean: Double, sd: Double, half: Double?) {
        let n = values.count
        let mean = values.reduce(0, +) / Double(max(n, 1))
        guard n > 1 else { return (mean, 0, nil) }
        let sd = (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1)).squareRoot()
        return (mean, sd, tQuantile975(degreesOfFreedom: n - 1) * sd / Double(n).squareRoot())
    }

    /// The 0.975 quantile of Student's t (two-sided 95 %), tabulated to 3 decimals for 1–30 degrees
    /// of freedom; the normal 1.960 beyond.
    public static func tQuantile975(degreesOfFreedom df: Int) -> Double {
        let table = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
                     2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]
        return df >= 1 && df <= table.count ? table[df - 1] : 1.960
    }

    var text: String { alignedText(lines: ["across training seeds (points; 95% t interval of the mean over seeds)"], header: header, rows: rows) }

    var markdown: String { markdownTable(header: header, rows: rows, leftAligned: 4) }

    var csv: String { ([header] + rows).map { $0.map(csvField).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n" }
}
