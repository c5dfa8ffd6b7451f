import Foundation
import TVPFormats

/// One entry of the cache, as `tvp-run cache ls` lists it.
public struct CacheEntry: Sendable, Equatable {
    public var key: StageKey
    /// The `done` record; nil for an entry a run never finished.
    public var record: CacheRecord?
    /// Bytes of all files in the entry folder and in the folder a render stage drew into
    /// (`renders/<key>`, which belongs to the entry).
    public var bytes: Int
    /// When the entry was finished (or last written, if unfinished).
    public var date: Date
}

/// What `collectGarbage` did.
public struct GarbageReport: Sendable, Equatable {
    public var removed: [StageKey]
    public var freedBytes: Int
    /// Entries left alone because a run holds their lock.
    public var busy: [StageKey]
}

extension StageCache {
    /// Every entry folder, finished or not, oldest first (ties by key).
    public func entries() throws -> [CacheEntry] {
        let manager = FileManager.default
        let stages = root + "/stages"
        var found: [CacheEntry] = []
        for shard in (try? manager.contentsOfDirectory(atPath: stages)) ?? [] where shard.count == 2 {
            for name in (try? manager.contentsOfDirectory(atPath: stages + "/" + shard)) ?? [] {
                guard let key = StageKey(hex: name), name.hasPrefix(shard) else { continue }
                let folder = stages + "/" + shard + "/" + name
                var bytes = 0
                var newest = Date(timeIntervalSince1970: 0)
                for file in (try? manager.contentsOfDirectory(atPath: folder)) ?? [] {
                    guard let attributes = try? manager.attributesOfItem(atPath: folder + "/" + file) else { continue }
                    bytes += (attributes[.size] as? NSNumber)?.intValue ?? 0
                    if let modified = attributes[.modificationDate] as? Date, modified > newest { newest = modified }
                }
                bytes += Self.treeBytes(renderFolder(for: key))
                let record = record(for: key)
                found.append(CacheEntry(key: key, record: record, bytes: bytes, date: record?.finished ?? newest))
            }
        }
        return found.sorted { ($0.date, $0.key) < ($1.date, $1.key) }
    }

    /// The folder a `render` stage of `key` draws its scenes into (see `DataStages.renderStage`).
    public func renderFolder(for key: StageKey) -> String { root + "/renders/" + key.hex }

    /// Bytes of every regular file under `path` (0 when it does not exist).
    static func treeBytes(_ path: String) -> Int {
        guard let walker = FileManager.default.enumerator(atPath: path) else { return 0 }
        var bytes = 0
        while walker.nextObject() != nil {
            guard let attributes = walker.fileAttributes, attributes[.type] as? FileAttributeType == .typeRegular else { continue }
            bytes += (attributes[.size] as? NSNumber)?.intValue ?? 0
        }
        return bytes
    }

    /// The number of entries and their total size in bytes.
    public func diskUsage() throws -> (entries: Int, bytes: Int) {
        let all = try entries()
        return (all.count, all.reduce(0) { $0 + $1.bytes })
    }

    /// Removes every entry whose key is not in `keep` and, when `olderThan` is given, that is older
    /// than that many seconds (unfinished entries count by their last write). Entries a run is
    /// computing right now (locked) are left alone; index records of removed keys are dropped, and so
    /// are the render folders of removed entries and render folders no entry owns.
    public func collectGarbage(keep: Set<StageKey>, olderThan: TimeInterval? = nil, now: Date = Date()) throws -> GarbageReport {
        var report = GarbageReport(removed: [], freedBytes: 0, busy: [])
        let manager = FileManager.default
        for entry in try entries() where !keep.contains(entry.key) {
            if let olderThan, now.timeIntervalSince(entry.date) <= olderThan { continue }
            let folder = directory(for: entry.key)
            let lock = FileLock(path: folder + "/" + StageCache.lockFile)
            let hasLockFile = manager.fileExists(atPath: lock.path)
            if hasLockFile, !lock.tryAcquire() {
                report.busy.append(entry.key)
                continue
            }
            do {
                if manager.fileExists(atPath: renderFolder(for: entry.key)) { try manager.removeItem(atPath: renderFolder(for: entry.key)) }
                try manager.removeItem(atPath: folder)
            } catch {
                lock.release()
                throw PipelineError.cache(path: folder, message: "cannot remove the entry: \(error.localizedDescription)")
            }
            lock.release()
            report.removed.append(entry.key)
            report.freedBytes += entry.bytes
            // The shard folder goes when it is empty (Foundation's removeItem would take its other entries too).
            let shard = (folder as NSString).deletingLastPathComponent
            if (try? manager.contentsOfDirectory(atPath: shard))?.isEmpty == true { try? manager.removeItem(atPath: shard) }
        }
        // Render folders whose entry is gone (left by a version of gc that did not remove them).
        let remaining = Set(try entries().map(\.key))
        for name in (try? manager.contentsOfDirectory(atPath: root + "/renders")) ?? [] {
            guard let key = StageKey(hex: name), !remaining.contains(key), !keep.contains(key) else { continue }
            let folder = renderFolder(for: key)
            report.freedBytes += Self.treeBytes(folder)
            try? manager.removeItem(atPath: folder)
        }
        let removed = Set(report.removed)
        let index = root + "/index"
        for name in (try? manager.contentsOfDirectory(atPath: index)) ?? [] {
            let path = index + "/" + name
            guard let text = try? readTextFile(path), let json = try? JSONValue.parse(text, source: path),
                  let hex = json["key"]?.stringValue, let key = StageKey(hex: hex), removed.contains(key) else { continue }
            try? manager.removeItem(atPath: path)
        }
        return report
    }

    /// `tvp-run cache ls`: one line per entry — key, kind, stage id, size, date (UTC).
    public static func listing(_ entries: [CacheEntry]) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        let rows = entries.map { entry -> [String] in
            [entry.key.short, entry.record?.kind ?? "(unfinished)", entry.record?.stageID ?? "-",
             formatByteCount(entry.bytes), formatter.string(from: entry.date)]
        }
        return formatTable(header: ["key", "kind", "stage", "size", "date (UTC)"], rows: rows, rightAligned: [3])
    }
}

/// A byte count for people: `512 B`, `1.5 KiB`, `3.2 MiB`, `1.1 GiB`.
public func formatByteCount(_ bytes: Int) -> String {
    if bytes < 1024 { return "\(bytes) B" }
    var value = Double(bytes) / 1024
    for unit in ["KiB", "MiB", "GiB"] {
        if value < 1024 || unit == "GiB" { return String(format: "%.1f ", value) + unit }
        value /= 1024
    }
    return "\(bytes) B"
}
