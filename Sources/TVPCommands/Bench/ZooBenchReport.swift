import Foundation
import TVPTensor

/// What `tvp-run bench --zoo` prints after timing: where one profiled training step's time went
/// (each region forward and backward, ms and % of the step), the LM GEMMs' achieved GFLOP/s
/// against the sgemm peak of the same run, and the twin's agreement, times and ratios.
struct ZooBenchmarkProfile {
    let regions: [String: Profile.Region]
    let sgemmPeak: Double

    /// The step's regions in the order data flows through them (`profiled` labels).
    static let order = ["prompt", "vision tower", "connector", "LM", "LM head", "FCA", "TSE guide", "prompt update",
                        "allocation", "autodiff", "other"]

    func seconds(_ label: String) -> Double { regions[label]?.seconds ?? 0 }

    func print(_ log: (String) -> Void) {
        let total = regions.values.reduce(0) { $0 + $1.seconds }
        let labels = Self.order + regions.keys.filter { key in !Self.order.contains { key == $0 || key == $0 + " backward" } }.sorted()
        log(String(format: "where one profiled step's %.0f ms go (forward | backward = the backward of what ran in that region; allocation and", total * 1e3))
        log("the backward walk's bookkeeping are charged on their own lines, not to the region they happen in):")
        log("  region            forward ms  backward ms   total ms   % of step  entries  GEMM GFLOP")
        for label in labels {
            let forward = seconds(label), backward = seconds(label + " backward")
            guard forward + backward > 0 else { continue }
            let flops = (regions[label]?.gemmFLOPs ?? 0) + (regions[label + " backward"]?.gemmFLOPs ?? 0)
            log("  " + label.padding(toLength: 16, withPad: " ", startingAt: 0)
                + String(format: " %10.1f %12.1f %10.1f %10.1f%%  %7d  %10.2f", forward * 1e3, backward * 1e3,
                         (forward + backward) * 1e3, 100 * (forward + backward) / total, regions[label]?.entries ?? 0, flops / 1e9))
        }
        for (name, labels) in [("LM forward", ["LM"]), ("LM backward", ["LM backward"]),
                               ("LM head (fwd+bwd)", ["LM head", "LM head backward"]), ("step", Array(regions.keys))] {
            let flops = labels.reduce(0) { $0 + (regions[$1]?.gemmFLOPs ?? 0) }
            let gemm = labels.reduce(0) { $0 + (regions[$1]?.gemmSeconds ?? 0) }
            let time = labels.reduce(0) { $0 + seconds($1) }
            guard gemm > 0 else { continue }
            log(String(format: "  %@ GEMMs: %.1f GFLOP in %.0f ms = %.0f GFLOP/s (%.0f%% of the sgemm peak); %.0f%% of the region's time is GEMM, "
                       + "%.0f GFLOP/s over all of it", name, flops / 1e9, gemm * 1e3, flops / gemm / 1e9, 100 * flops / gemm / 1e9 / sgemmPeak,
                       100 * gemm / time, flops / time / 1e9))
        }
    }

    /// The twin's agreement check, times and the closing ratio line.
    static func printTwin(_ twin: [String: Any], step: ZooBenchmark.Times, evaluation: ZooBenchmark.Times, log: (String) -> Void) {
        let impl = twin["impl"] as? String ?? "pytorch"
        if let d = twin["max_difference"] as? [String: Double] {
            log(String(format: "agreement (|tvp − %@|): loss %.2e (task %.2e, FCA %.2e, TSE %.2e), prompt gradient max %.2e of max |g| %.2e "
                       + "(‖Δg‖/‖g‖ %.2e), scores max %.2e", impl, d["loss"] ?? .nan, d["task"] ?? .nan, d["fca"] ?? .nan, d["tse"] ?? .nan,
                       d["gradient"] ?? .nan, d["gradient_scale"] ?? .nan, d["gradient_relative_l2"] ?? .nan, d["scores"] ?? .nan))
        }
        let twinStep = ZooBenchmark.Times(runs: twin["step_s"] as? [Double] ?? [])
        let twinEvaluation = ZooBenchmark.Times(runs: twin["evaluation_s"] as? [Double] ?? [])
        log("\(impl) train step:  \(twinStep.text)")
        log("\(impl) evaluation:  \(twinEvaluation.text)")
        log(String(format: "%@ process RSS %.0f MiB", impl, twin["peak_rss_mib"] as? Double ?? .nan))
        log(String(format: "ratio (pytorch / tvp): train step %.2f×, evaluation %.2f×", twinStep.best / step.best, twinEvaluation.best / evaluation.best))
    }
}
