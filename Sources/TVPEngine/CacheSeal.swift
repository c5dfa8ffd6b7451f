import Foundation
import TVPFormats

/// Size and SHA-256 of one file of a cache entry, recorded in its `done` record when the entry is
/// written and compared with the file before the entry is served.
public struct FileSeal: Sendable, Equatable {
    public var bytes: Int
    public var sha256: String
}

extension StageCache {
    /// The files of an entry that its seal covers: everything a finished entry holds but `done`,
    /// the lock and the lease (the payload only when the stage stored one).
    static let sealedFiles = [payloadFile, resultFile, manifestFile]

    /// Seals the files of the entry folder `folder` (called once they are written, before `done`).
    func seal(_ folder: String) throws -> [String: FileSeal] {
        var seals: [String: FileSeal] = [:]
        for name in StageCache.sealedFiles where name != StageCache.payloadFile || FileManager.default.fileExists(atPath: folder + "/" + name) {
            let digests = try fileSHA256(folder + "/" + name)
            seals[name] = FileSeal(bytes: digests.size, sha256: digests.sha256 ?? "")
        }
        return seals
    }

    /// What is wrong with the finished entry of `key`, or nil when every sealed file still has the
    /// size and SHA-256 it was written with. An entry without a record reads as damaged; an entry
    /// written before seals existed (no `files` in its record) cannot be checked and reads as sound.
    public func damage(of key: StageKey) -> String? {
        guard let record = record(for: key), record.key == key else { return "its done record is missing or unreadable" }
        let folder = directory(for: key)
        let manager = FileManager.default
        // Sizes first: a truncated or replaced file is found without reading it.
        for (name, seal) in record.files.sorted(by: { $0.key < $1.key }) {
            guard let attributes = try? manager.attributesOfItem(atPath: folder + "/" + name),
                  let size = (attributes[.size] as? NSNumber)?.intValue else { return "\(name) is missing" }
            if size != seal.bytes { return "\(name) has \(size) bytes, sealed with \(seal.bytes)" }
        }
        for (name, seal) in record.files.sorted(by: { $0.key < $1.key }) {
            guard let digests = try? fileSHA256(folder + "/" + name) else { return "\(name) cannot be read" }
            if digests.sha256 != seal.sha256 {
                return "\(name) has SHA-256 \(digests.sha256?.prefix(12) ?? "?"), sealed with \(seal.sha256.prefix(12))"
            }
        }
        return nil
    }

    /// Makes the entry of `key` unfinished (its `done` record goes), so the next `compute` clears
    /// what is left and computes it again. Used when `damage(of:)` found the entry damaged.
    public func discard(_ key: StageKey) throws {
        let path = directory(for: key) + "/" + StageCache.doneFile
        guard unlink(path) == 0 || errno == ENOENT else {
            throw PipelineError.cache(path: path, message: "cannot remove the record of a damaged entry: \(String(cString: strerror(errno)))")
        }
    }

    /// `tvp-run cache verify`: every finished entry checked against its seal.
    public func verifyAll(progress: (Int, Int) -> Void = { _, _ in }) throws -> CacheVerification {
        let finished = try entries().filter { $0.record != nil }
        var report = CacheVerification(checked: 0, unsealed: [], damaged: [])
        for (index, entry) in finished.enumerated() {
            progress(index, finished.count)
            report.checked += 1
            if entry.record?.files.isEmpty == true { report.unsealed.append(entry.key) }
            if let problem = damage(of: entry.key) { report.damaged.append((entry.key, entry.record?.stageID ?? "-", problem)) }
        }
        progress(finished.count, finished.count)
        return report
    }
}

/// What `StageCache.verifyAll` found.
public struct CacheVerification: Sendable {
    public var checked: Int
    /// Entries written before seals existed: they cannot be checked.
    public var unsealed: [StageKey]
    /// Entries whose files differ from their seal: key, stage id, what differs.
    public var damaged: [(key: StageKey, stageID: String, problem: String)]

    public var text: String {
        var lines = damaged.map { "damaged  \($0.key.short)  \($0.stageID): \($0.problem)" }
        lines.append("\(checked) finished entries checked: \(damaged.count) damaged, \(unsealed.count) written before seals (not checkable)"
            + (damaged.isEmpty ? "" : "; a run recomputes the damaged ones (or `tvp-run cache verify --discard` marks them unfinished now)"))
        return lines.joined(separator: "\n")
    }
}
