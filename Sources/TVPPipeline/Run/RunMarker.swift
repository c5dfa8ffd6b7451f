import Foundation
import TVPEngine

/// A run in progress, visible to `tvp-run runs` before its run folder exists:
/// `runs/PIPELINE/.running-PID-ID.json` ({pipeline, file, started, pid, host, overrides, version}),
/// written when the run starts and removed when it ends. A marker whose process is gone (killed)
/// stays behind and lists as `interrupted`.
struct RunMarker {
    static let prefix = ".running-"

    let path: String

    /// Writes the marker; nil when the runs folder cannot be written (the run itself will say so).
    init?(loaded: LoadedPipeline, runsDirectory: String, started: Date) {
        let parent = (runsDirectory as NSString).appendingPathComponent(fileSafe(loaded.name))
        path = parent + "/\(RunMarker.prefix)\(getpid())-\(UUID().uuidString.prefix(8)).json"
        let json: JSONValue = ["pipeline": .string(loaded.name), "file": .string(loaded.path),
                               "started": .string(ISO8601DateFormatter().string(from: started)), "pid": .integer(Int(getpid())),
                               "host": .string(ProcessInfo.processInfo.hostName), "version": .string(tvpVersion),
                               "overrides": .array(loaded.overrides.map { .string($0) }),
                               "points": .integer(loaded.points.count)]
        do {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
            try Data((json.canonicalText + "\n").utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch { return nil }
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    /// Whether the process a marker names still runs: same host and a live pid.
    static func isAlive(_ json: JSONValue) -> Bool {
        guard json["host"]?.stringValue == ProcessInfo.processInfo.hostName, let pid = json["pid"]?.intValue else { return false }
        return kill(pid_t(pid), 0) == 0 || errno == EPERM
    }
}
