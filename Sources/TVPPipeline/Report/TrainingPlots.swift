import Foundation
import TVPEngine
import TVPPrompting

/// The report's training plots, from the aggregate's `trainings`:
///
/// - `loss-TASK.svg`: every training of the task (VP, TVP) overlaid, total loss solid and, where
///   the training has FCA or TSE terms, its task term dashed; every task's plot on the same axes;
///   a training whose loss did not fall (`TrainingDiagnostics`) is flagged in the legend, and a
///   lone training's kept (best) step is marked;
/// - `loss-terms-TASK-VARIANT.svg`: the FCA and TSE terms (unweighted) of a training that has them,
///   each against its own axis;
/// - `validation-TASK-VARIANT.svg`: the held-out accuracy measured along a training.
enum TrainingPlots {
    static func svgs(_ aggregate: JSONValue) -> [(name: String, svg: String)] {
        let trainings = (aggregate["trainings"]?.arrayValue ?? []).map { training in
            (task: training["task"]?.stringValue ?? "", variant: training["variant"]?.stringValue ?? "", json: training,
             records: (training["curve"]?.arrayValue ?? []).compactMap(LossRecord.init(json:)))
        }
        var plots: [(name: String, svg: String)] = []
        let records = trainings.flatMap(\.records)
        let ys = records.flatMap { [$0.total, $0.task] }.filter(\.isFinite), xs = records.map { Double($0.step) }
        var tasks: [String] = []
        for training in trainings where !training.records.isEmpty && !tasks.contains(training.task) { tasks.append(training.task) }
        if let yLow = ys.min(), let yHigh = ys.max(), let xLow = xs.min(), let xHigh = xs.max() {
            for task in tasks {
                let own = trainings.filter { $0.task == task && !$0.records.isEmpty }
                var series: [LossPlot.Series] = []
                for training in own {
                    let name = training.variant.uppercased()
                    let flat = (training.json["loss_ratio"]?.doubleValue ?? 0) > TrainingDiagnostics.fallingRatio
                    series.append(.init(name: "\(name) total" + (flat ? " (not falling)" : ""),
                                        points: training.records.map { (Double($0.step), $0.total) }))
                    if training.records.contains(where: { $0.fca != nil || $0.tse != nil }) {
                        series.append(.init(name: "\(name) task term", points: training.records.map { (Double($0.step), $0.task) }, dashed: true))
                    }
                }
                let best = own.count == 1 ? own[0].json["best_step"]?.intValue.map { (x: Double($0), label: "best step \($0)") } : nil
                plots.append(("loss-\(fileSafe(task)).svg",
                              LossPlot.svg(title: "\(task) · training loss", series: series, xLabel: "step", yLabel: "loss", mark: best,
                                           xRange: (xLow, xHigh), yRange: (yLow, yHigh))))
            }
        }
        for training in trainings where !training.records.isEmpty {
            let terms: [(name: String, values: [Double?])] = [("FCA", training.records.map(\.fca)), ("TSE", training.records.map(\.tse))]
            for term in terms where term.values.contains(where: { $0 != nil }) {
                let points = zip(training.records, term.values).compactMap { record, value in value.map { (Double(record.step), $0) } }
                plots.append(("loss-terms-\(fileSafe(training.task))-\(training.variant)-\(term.name.lowercased()).svg",
                              LossPlot.svg(title: "\(training.task) · \(training.variant.uppercased()) \(term.name) term (unweighted)",
                                           series: [.init(name: term.name, points: points)], xLabel: "step", yLabel: term.name,
                                           width: 360, height: 240)))
            }
        }
        for training in trainings {
            // The held-out accuracy the training measured along the way.
            let validation = (training.json["validation"]?.arrayValue ?? []).compactMap { entry -> (Double, Double)? in
                guard let step = entry["step"]?.doubleValue, let accuracy = entry["accuracy"]?.doubleValue else { return nil }
                return (step, accuracy * 100)
            }
            guard !validation.isEmpty else { continue }
            let n = training.json["validation"]?.arrayValue?.first?["n"]?.intValue
            let best = training.json["best_step"]?.intValue.map { (x: Double($0), label: "best step \($0)") }
            plots.append(("validation-\(fileSafe(training.task))-\(training.variant).svg",
                          LossPlot.svg(title: "\(training.task) · \(training.variant.uppercased()) validation accuracy" + (n.map { " (n = \($0))" } ?? ""),
                                       series: [LossPlot.Series(name: "accuracy", points: validation)], xLabel: "step",
                                       yLabel: "accuracy (%)", mark: best)))
        }
        return plots
    }
}
