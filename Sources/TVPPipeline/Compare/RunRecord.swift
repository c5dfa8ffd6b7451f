import Foundation
import TVPEngine
import TVPFormats

/// A run folder read back (what `tvp-run runs` lists and `tvp-run diff` compares): its meta.json,
/// and per point its resolved config and aggregate. A run still going (or killed) is read from its
/// `RunMarker`.
public struct RunRecord: Sendable {
    public enum Status: String, Sendable {
        /// Every stage ran or was cached.
        case finished
        /// A stage failed (its dependents were skipped).
        case failed
        /// Its process is alive: no run folder yet.
        case running
        /// Its process is gone without writing a run folder (killed).
        case interrupted
    }

    /// One point: the run itself, or a sweep point.
    public struct Point: Sendable {
        /// `lr=0.5`; empty for a run without a sweep.
        public var label: String
        /// The swept keys' values (`train.lr` → 0.5).
        public var assignments: [String: JSONValue]
        /// The folder holding its config.json and results.json.
        public var folder: String
        public var config: JSONValue?
        public var aggregate: JSONValue?
        /// Where a halving search left it (`HalvingSearch.Standing.json`); nil outside one.
        public var search: JSONValue? = nil
        /// The engine's pipeline name: `NAME` or `NAME[label]` (stage names in meta.json are prefixed with it).
        var pipelineName: String
    }

    public var folder: String
    public var pipeline: String
    public var started: Date?
    public var version: String?
    /// The `--set` and `-m` overrides meta.json records; empty for a folder written before it
    /// recorded them (its `command` has them: `tvp-run runs` reads them from there).
    public var overrides: [String]
    public var scale: String?
    public var status: Status
    public var isSweep: Bool
    public var points: [Point]
    /// The number of points (a running sweep's, before its points exist).
    public var pointCount: Int
    public var meta: JSONValue

    /// Reads the run folder `folder` (holding meta.json).
    public init(folder: String) throws {
        let meta = try RunRecord.json(folder + "/meta.json")
        self.folder = folder
        self.meta = meta
        pipeline = meta["pipeline"]?.stringValue ?? (folder as NSString).deletingLastPathComponent.components(separatedBy: "/").last ?? ""
        started = meta["started"]?.stringValue.flatMap { ISO8601DateFormatter().date(from: $0) }
        version = meta["version"]?.stringValue
        scale = meta["scale"]?.stringValue
        overrides = (meta["overrides"]?.arrayValue ?? []).compactMap(\.stringValue)
        status = (meta["failed"]?.intValue ?? 0) > 0 ? .failed : .finished
        let fileManager = FileManager.default
        isSweep = fileManager.fileExists(atPath: folder + "/sweep.yaml")
        if isSweep {
            let entries = (try? RunRecord.json(folder + "/results.json"))?["points"]?.arrayValue ?? []
            let name = pipeline
            points = entries.map { entry in
                let label = entry["label"]?.stringValue ?? ""
                let pointFolder = folder + "/points/" + fileSafe(label)
                var assignments: [String: JSONValue] = [:]
                if case .object(let object)? = entry["assignments"] { assignments = object }
                let aggregate = entry["aggregate"].flatMap { $0 == .null ? nil : $0 }
                return Point(label: label, assignments: assignments, folder: pointFolder,
                             config: try? RunRecord.json(pointFolder + "/config.json"), aggregate: aggregate,
                             search: entry["search"].flatMap { $0 == .null ? nil : $0 }, pipelineName: "\(name)[\(label)]")
            }
        } else {
            points = [Point(label: "", assignments: [:], folder: folder, config: try? RunRecord.json(folder + "/config.json"),
                            aggregate: try? RunRecord.json(folder + "/results.json"), pipelineName: pipeline)]
        }
        pointCount = points.count
    }

    /// A run in progress (or killed) from its marker file.
    init(marker path: String) throws {
        let json = try RunRecord.json(path)
        folder = path
        meta = json
        pipeline = json["pipeline"]?.stringValue ?? ""
        started = json["started"]?.stringValue.flatMap { ISO8601DateFormatter().date(from: $0) }
        version = json["version"]?.stringValue
        scale = nil
        overrides = (json["overrides"]?.arrayValue ?? []).compactMap(\.stringValue)
        status = RunMarker.isAlive(json) ? .running : .interrupted
        pointCount = json["points"]?.intValue ?? 1
        isSweep = pointCount > 1
        points = []
    }

    /// The run folder's name (its timestamp), or the marker's `running` / `interrupted`.
    public var name: String {
        status == .running || status == .interrupted ? status.rawValue : (folder as NSString).lastPathComponent
    }

    /// The folder under `runsDirectory` that holds `pipeline`'s runs.
    public static func folder(of pipeline: String, in runsDirectory: String) -> String { runsDirectory + "/" + fileSafe(pipeline) }

    /// Every run under `runsDirectory` (of `pipeline` only, if given), newest first; folders that
    /// cannot be read are left out (a partial folder being written is hidden, as are markers).
    public static func all(in runsDirectory: String, pipeline: String? = nil) -> [RunRecord] {
        let fileManager = FileManager.default
        let pipelines = pipeline.map { [fileSafe($0)] } ?? ((try? fileManager.contentsOfDirectory(atPath: runsDirectory)) ?? [])
        var records: [RunRecord] = []
        for name in pipelines where !name.hasPrefix(".") {
            let parent = runsDirectory + "/" + name
            for entry in (try? fileManager.contentsOfDirectory(atPath: parent)) ?? [] {
                if entry.hasPrefix(RunMarker.prefix), entry.hasSuffix(".json") {
                    if let record = try? RunRecord(marker: parent + "/" + entry) { records.append(record) }
                } else if !entry.hasPrefix("."), fileManager.fileExists(atPath: parent + "/" + entry + "/meta.json") {
                    if let record = try? RunRecord(folder: parent + "/" + entry) { records.append(record) }
                }
            }
        }
        return records.sorted { ($0.started ?? .distantPast, $0.folder) > ($1.started ?? .distantPast, $1.folder) }
    }

    /// The point a folder names: a run folder without a sweep, or a sweep's `points/LABEL` folder.
    /// A sweep's own folder is refused with its points listed.
    public static func point(at given: String) throws -> (run: RunRecord, point: Point) {
        let folder = given.hasSuffix("/") && given.count > 1 ? String(given.dropLast()) : given
        let fileManager = FileManager.default
        if fileManager.fileExists(atPath: folder + "/meta.json") {
            let run = try RunRecord(folder: folder)
            guard !run.isSweep else {
                throw UsageError("\(folder) is a sweep of \(run.points.count) points; name one of its points: " +
                                 run.points.prefix(4).map { folder + "/points/" + fileSafe($0.label) }.joined(separator: ", ")
                                 + (run.points.count > 4 ? ", …" : ""))
            }
            return (run, run.points[0])
        }
        let parent = (folder as NSString).deletingLastPathComponent
        let sweep = (parent as NSString).deletingLastPathComponent
        if (parent as NSString).lastPathComponent == "points", fileManager.fileExists(atPath: sweep + "/meta.json") {
            let run = try RunRecord(folder: sweep)
            let label = (folder as NSString).lastPathComponent
            if let point = run.points.first(where: { fileSafe($0.label) == label }) { return (run, point) }
        }
        throw UsageError("\(given) is not a run folder (no meta.json) nor a sweep point (points/LABEL of one); " +
                         "`tvp-run runs` lists the run folders")
    }

    /// The key of the stage that loaded `task`'s test split for `point` (from meta.json's stages):
    /// two points whose keys agree scored the same test items, in the same order.
    func testSplitKey(task: String, point: Point) -> String? {
        let id = "load[\(task)/test]"
        let stages = meta["stages"]?.arrayValue ?? []
        let own = stages.first { $0["name"]?.stringValue == "\(point.pipelineName)/\(id)" }
        return (own ?? stages.first { $0["name"]?.stringValue == id })?["key"]?.stringValue
    }

    static func json(_ path: String) throws -> JSONValue {
        try JSONValue.parse(try readTextFile(path), source: path)
    }
}
