import Foundation
import TVPEngine
import TVPPrompting
import TVPZoo

extension PipelineSession {
    /// After a zoo build file's run: writes the F16 weight file of every `zoo-vit`, `zoo-connector`
    /// and `zoo-guide` stage of `pipeline` into the spec's `output` (a sweep point's into
    /// `output/LABEL`), each atomically, once all of them and the zero-shot table are available (a
    /// run that left one out or failed writes nothing, so `output` never mixes two builds). Every
    /// run writes them, from the cache when nothing ran, so a deleted file comes back. Returns the
    /// zero-shot table and what was written, or why nothing was.
    func writeZoo(_ zoo: ZooSpec, point: PipelinePoint, pipeline: String, execution: ExecutionReport) throws -> String {
        let nodes = graph.nodes.filter { node in node.occurrences.contains { $0.pipeline == pipeline } }
        let weights = nodes.filter { [StageKinds.zooViT, StageKinds.zooConnector, StageKinds.zooGuide].contains($0.stage.kind) }
        guard let zeroShot = nodes.first(where: { $0.stage.kind == StageKinds.zooZeroShot }) else { return "" }
        let output = loaded.isSweep ? (zoo.output as NSString).appendingPathComponent(fileSafe(point.label)) : zoo.output
        let missing = (weights + [zeroShot]).filter { !execution.outcomes[$0.index].isAvailable }.map(\.name)
        guard missing.isEmpty else { return "the zoo was not written to \(output): \(missing.joined(separator: ", ")) did not finish\n" }
        do {
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        } catch {
            throw PipelineError.cache(path: output, message: "cannot create the zoo's output folder: \(error.localizedDescription)")
        }
        var bytes = 0
        for node in weights {
            let path = try writeZooWeightFile(cache.payload(for: node.key), to: output)
            bytes += (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        }
        var report = ZooBuildReport()
        report.zeroShot = try (cache.payload(for: zeroShot.key).result()["rows"]?.arrayValue ?? []).map { row in
            guard let model = row["model"]?.stringValue, let dataset = row["dataset"]?.stringValue,
                  let accuracy = row["accuracy"]?.doubleValue, let chance = row["chance"]?.doubleValue else {
                throw PipelineError.stage(zeroShot.name, "a zero-shot row lacks model, dataset, accuracy or chance: \(row)")
            }
            return ZooZeroShot(model: model, dataset: dataset, accuracy: accuracy, chance: chance)
        }
        return "Zero-shot accuracy of the zoo written to \(output) (official zero-shot input, unseen test images):\n\n"
            + report.zeroShotTable + "\n\n" + String(format: "%d files, %.1f MB\n", weights.count, Double(bytes) / 1e6)
    }
}
